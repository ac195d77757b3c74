//! `tender @FILE [MORE...]`: arguments read from a file, one per line.
//!
//! The convention of rustc and javac (`@path`), kept deliberately narrow: only the *first*
//! argument may be `@FILE`, each line of FILE is one argument taken byte for byte (no quoting,
//! no comments; a final newline ends the last line), and the remaining command-line arguments
//! follow them. Used by tender-oci, which learns a container's network settings only after the
//! container exists, but useful wherever a device list is too long for a shell line.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The largest argument file read (far above any real command line).
pub const MAX_ARGFILE: u64 = 1 << 20;

/// Why an `@FILE` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArgFileError {
    #[error("{path}: Could not read the argument file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the argument file is not a regular file of at most {MAX_ARGFILE} bytes")]
    NotFile { path: PathBuf },
    #[error("`@` needs a file name (`@FILE`: arguments, one per line)")]
    NoName,
}

/// An argument that cannot be written to an argument file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("argument {0:?} contains a newline, which an argument file cannot hold")]
pub struct NewlineInArgument(pub String);

/// The argument file [`expand`] reads back as exactly `args`: one per line, byte for byte.
pub fn encode(args: &[OsString]) -> Result<Vec<u8>, NewlineInArgument> {
    let mut out = Vec::new();
    for a in args {
        if a.as_bytes().contains(&b'\n') {
            return Err(NewlineInArgument(a.to_string_lossy().into_owned()));
        }
        out.extend_from_slice(a.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// Replaces a leading `@FILE` argument by the lines of FILE; other arguments are untouched.
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, ArgFileError> {
    let Some(path) = args.first().and_then(|a| a.as_bytes().strip_prefix(b"@")) else {
        return Ok(args);
    };
    if path.is_empty() {
        return Err(ArgFileError::NoName);
    }
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(path));
    let err = |source| ArgFileError::Read { path: path.clone(), source };
    // O_NONBLOCK: a FIFO given as FILE is refused below instead of blocking open(2).
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    if !meta.is_file() || meta.len() > MAX_ARGFILE {
        return Err(ArgFileError::NotFile { path });
    }
    let mut text = Vec::new();
    file.take(MAX_ARGFILE).read_to_end(&mut text).map_err(err)?;
    let text = text.strip_suffix(b"\n").unwrap_or(&text);
    let mut out: Vec<OsString> = if text.is_empty() {
        Vec::new()
    } else {
        text.split(|&b| b == b'\n').map(|line| OsString::from_vec(line.to_vec())).collect()
    };
    out.extend(args.into_iter().skip(1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn file_with(text: &[u8]) -> (PathBuf, String) {
        let path = tender_tests::scratch_dir(&format!("argfile-{}", text.len())).join("args");
        std::fs::write(&path, text).unwrap();
        let at = format!("@{}", path.display());
        (path, at)
    }

    #[test]
    fn without_a_leading_at_nothing_changes() {
        assert_eq!(expand(os(&["k.hvt", "@x"])).unwrap(), os(&["k.hvt", "@x"]));
        assert_eq!(expand(Vec::new()).unwrap(), Vec::<OsString>::new());
    }

    #[test]
    fn lines_become_arguments_and_the_rest_follow() {
        let (_p, at) = file_with(b"--mem=64\n--net:service=tap0\nk.hvt\n--ipv4=10.0.0.2/24\n");
        let got = expand(os(&[&at, "a b", "c"])).unwrap();
        assert_eq!(got, os(&["--mem=64", "--net:service=tap0", "k.hvt", "--ipv4=10.0.0.2/24", "a b", "c"]));
    }

    #[test]
    fn lines_are_taken_byte_for_byte() {
        let (_p, at) = file_with(b" spaced \n\n\xff\n");
        assert_eq!(
            expand(os(&[&at])).unwrap(),
            vec![OsString::from(" spaced "), OsString::new(), OsString::from_vec(vec![0xff])]
        );
        let (_p, at) = file_with(b"");
        assert!(expand(os(&[&at, "x"])).unwrap() == os(&["x"]));
    }

    #[test]
    fn encode_is_what_expand_reads_back() {
        let args = vec![
            OsString::from("--mem=48"),
            OsString::from(" spaced "),
            OsString::new(),
            OsString::from_vec(vec![0xff]),
        ];
        let (_p, at) = file_with(&encode(&args).unwrap());
        assert_eq!(expand(vec![OsString::from(at)]).unwrap(), args);
        assert!(encode(&[OsString::from("a\nb")]).is_err());
    }

    #[test]
    fn missing_files_and_directories_are_errors() {
        let e = expand(os(&["@/nonexistent/args"])).unwrap_err();
        assert_eq!(e.to_string(), "/nonexistent/args: Could not read the argument file");
        assert_eq!(
            expand(os(&["@"])).unwrap_err().to_string(),
            "`@` needs a file name (`@FILE`: arguments, one per line)"
        );
        let e = expand(os(&["@/"])).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
