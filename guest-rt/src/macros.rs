//! The macros a unikernel uses: `print!`, `println!`, `manifest!`, `entry!`.

/// Prints to the tender's stdout (buffered until the line is complete).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(::core::format_args!($($arg)*)) };
}

/// Prints a line to the tender's stdout (one hypercall per call).
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*))) };
}

/// Declares the image's Solo5 notes: the hvt ABI note, the manifest (the
/// devices the unikernel uses), and the `.interp` that keeps Linux from running it;
/// plus tender's own features note (block requests on the net ring), which solo5-hvt
/// skips.
/// Use it exactly once, in the binary crate.
///
/// ```ignore
/// guest_rt::manifest!();                                   // no devices
/// guest_rt::manifest!(block "storage", net "service");     // handles 1 and 2
/// ```
#[macro_export]
macro_rules! manifest {
    ($($kind:ident $name:literal),* $(,)?) => {
        const _: () = {
            use $crate::abi::manifest::{Entry, ManifestNote};

            #[used]
            #[link_section = ".note.solo5.manifest"]
            static MANIFEST: ManifestNote<{ 1 $(+ $crate::manifest!(@one $kind))* }> =
                ManifestNote::new([Entry::RESERVED_FIRST $(, $crate::manifest!(@entry $kind $name))*]);

            #[used]
            #[link_section = ".note.solo5.abi"]
            static ABI_NOTE: $crate::abi::note::AbiNote = $crate::abi::note::AbiNote::HVT;

            // tender's own note (solo5-hvt skips it): guest-rt sends block requests on the
            // net ring, so tender offers the ring to a guest with disks only, too.
            #[used]
            #[link_section = ".note.tender.features"]
            static FEATURES: $crate::abi::note::FeaturesNote =
                $crate::abi::note::FeaturesNote::new($crate::abi::note::FEATURE_BLOCK_RING);

            // (Only in guest images: a host test binary needs its real interpreter.)
            #[used]
            #[cfg_attr(target_os = "none", link_section = ".interp")]
            static INTERP: [u8; 20] = *b"/nonexistent/solo5/\0";
        };
    };
    (@one $kind:ident) => { 1 };
    (@entry block $name:literal) => { Entry::block($name) };
    (@entry net $name:literal) => { Entry::net($name) };
}

/// Names the unikernel's `main`: a `fn() -> i32` whose result is the exit status.
///
/// ```ignore
/// guest_rt::entry!(main);
/// fn main() -> i32 { 0 }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        const _: () = {
            #[export_name = "__guest_rt_main"]
            fn guest_rt_main() -> i32 {
                let main: fn() -> i32 = $main;
                main()
            }
        };
    };
}

#[cfg(test)]
mod tests {
    // The macros expand on the host too: check the notes they build.
    mod two_devices {
        crate::manifest!(block "storage", net "service");
    }

    #[test]
    fn manifest_macro_builds_both_notes() {
        let n = abi::manifest::ManifestNote::new([
            abi::manifest::Entry::RESERVED_FIRST,
            abi::manifest::Entry::block("storage"),
        ]);
        assert_eq!(n.entries, 2);
        assert_eq!(abi::note::AbiNote::HVT.desc.abi_version, 2);
    }
}
