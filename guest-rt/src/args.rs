//! Command-line arguments: the tender's arguments after KERNEL, joined by spaces.
//!
//! There is no program name: `args()` yields exactly what followed the image on
//! the tender's command line. A leading `--solo5:<level>` token (Solo5's
//! log-level convention) is not an argument.

/// Prefix of Solo5's log-level token (`--solo5:quiet`, `--solo5:debug`, ...).
pub const SOLO5_PREFIX: &str = "--solo5:";

/// Iterator over the arguments of a command line (empty tokens skipped).
#[derive(Clone, Debug)]
pub struct Args<'a> {
    rest: core::str::Split<'a, char>,
}

impl<'a> Args<'a> {
    /// Splits `cmdline` on spaces, dropping a leading `--solo5:` token.
    pub fn parse(cmdline: &'a str) -> Args<'a> {
        let mut args = Args { rest: cmdline.split(' ') };
        let mut peek = args.clone();
        if peek.next().is_some_and(|first| first.starts_with(SOLO5_PREFIX)) {
            args = peek;
        }
        args
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.rest.by_ref().find(|s| !s.is_empty())
    }
}

/// The Solo5 log level given as a leading `--solo5:<level>`, if any.
pub fn solo5_log_level(cmdline: &str) -> Option<&str> {
    Args { rest: cmdline.split(' ') }.next()?.strip_prefix(SOLO5_PREFIX)
}

/// The raw command line (empty before boot).
pub fn cmdline() -> &'static str {
    crate::boot::boot().cmdline
}

/// The unikernel's arguments.
pub fn args() -> Args<'static> {
    Args::parse(cmdline())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        Args::parse(s).collect()
    }

    #[test]
    fn splits_on_spaces_and_skips_empty_tokens() {
        assert_eq!(split("a b  c"), ["a", "b", "c"]);
        assert_eq!(split(" lead trail "), ["lead", "trail"]);
        assert!(split("").is_empty());
        assert!(split("   ").is_empty());
    }

    #[test]
    fn leading_solo5_token_is_not_an_argument() {
        assert_eq!(split("--solo5:quiet x"), ["x"]);
        assert_eq!(split("  --solo5:debug"), Vec::<&str>::new());
        assert_eq!(split("x --solo5:quiet"), ["x", "--solo5:quiet"]);
        assert_eq!(solo5_log_level("--solo5:warn a"), Some("warn"));
        assert_eq!(solo5_log_level("a"), None);
    }

    #[test]
    fn before_boot_there_are_no_arguments() {
        assert_eq!(args().count(), 0);
    }
}
