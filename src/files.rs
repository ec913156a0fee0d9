//! Reading the files an operator names (the config file, the web config, certificates and
//! keys): only regular files, and at most a limit's bytes. A FIFO would block start-up or a
//! reload until someone writes to it, and a symlink to `/dev/zero` reports size 0 while it
//! never ends: both are refused before a byte is read, and whatever is read stops at the limit.

use std::io::Read;
use std::path::Path;

/// The file's bytes, or what is wrong with it (to follow "`path` ..."): not there, not a
/// regular file, or larger than `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let regular = |metadata: &std::fs::Metadata| -> Result<(), String> {
        let kind = metadata.file_type();
        if kind.is_file() {
            return Ok(());
        }
        let what = if kind.is_dir() {
            "a directory"
        } else {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            }
        };
        Err(format!(
            "is {what}, not a regular file; name the file itself"
        ))
    };
    // Followed through symlinks, as the open below is; looked at before opening, since opening
    // a FIFO for reading waits for a writer.
    let metadata = std::fs::metadata(path).map_err(|err| format!("cannot be read: {err}"))?;
    regular(&metadata)?;
    if metadata.len() > max {
        return Err(format!(
            "is {} bytes; at most {max} are read",
            metadata.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    // The file itself now, in case the path was swapped between the look and the open.
    regular(
        &file
            .metadata()
            .map_err(|err| format!("cannot be read: {err}"))?,
    )?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot be read: {err}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("grew past {max} bytes while it was read"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::read_bounded;

    #[test]
    fn devices_fifos_directories_and_large_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_bounded(&zero, 1024).unwrap_err().contains("a device"));
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(read_bounded(&fifo, 1024).unwrap_err().contains("a FIFO"));
        assert!(read_bounded(dir.path(), 1024)
            .unwrap_err()
            .contains("a directory"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert!(read_bounded(&big, 1024).unwrap_err().contains("2048 bytes"));
        assert_eq!(read_bounded(&big, 4096).unwrap().len(), 2048);
        assert!(read_bounded(&dir.path().join("none"), 1)
            .unwrap_err()
            .contains("cannot be read"));
    }
}
