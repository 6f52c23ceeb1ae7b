//! Writing a report file so that it is never seen half-written: the bytes go to a temporary
//! file in the same directory, are flushed to disk, and only then renamed over the real name.
//! A failure (full disk, no permission) leaves the previous file, or none, and no temporary.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// Lets `write` fill a temporary file next to `path`, syncs it and renames it to `path`; on any
/// error the temporary file is removed and `path` is left as it was.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_path(path)?;
    let result = (|| {
        let mut file = File::create(&temp)?;
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
        return result;
    }
    // The rename itself reaches the disk with the directory; a failure here loses nothing
    // that was not already visible, so it is not an error of the write.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// `dir/.name.tmp-<pid>`: hidden, in the same directory (a rename does not cross file systems),
/// and distinct per process.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(temp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old").expect("write");
        write_atomically(&path, b"new and longer").expect("atomic write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "new and longer"
        );
        assert_eq!(
            entries(dir.path()),
            ["report.json"],
            "no temporary file left"
        );
    }

    #[test]
    fn a_writer_failing_halfway_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.json");
        std::fs::write(&path, "{\"complete\": true}\n").expect("write");
        // As on a full disk: part of the bytes went out, then the write failed.
        let err = write_atomically_with(&path, |file| {
            file.write_all(b"{\"trunc")?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
        })
        .expect_err("the failure comes back");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"complete\": true}\n"
        );
        assert_eq!(entries(dir.path()), ["report.json"]);

        // Without an old file there is no file at all, rather than a truncated one.
        let fresh = dir.path().join("summary.md");
        assert!(write_atomically_with(&fresh, |_| Err(io::Error::other("boom"))).is_err());
        assert!(!fresh.exists());
        assert_eq!(entries(dir.path()), ["report.json"]);
    }

    #[test]
    fn a_failed_rename_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A non-empty directory where the file should go: the rename cannot replace it.
        let path = dir.path().join("report.html");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::write(path.join("keep"), "x").expect("write");
        assert!(write_atomically(&path, b"<!DOCTYPE html>").is_err());
        assert!(path.join("keep").is_file());
        assert_eq!(entries(dir.path()), ["report.html"]);
    }
}
