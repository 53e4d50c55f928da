//! The suite digest: a content hash of every task of a suite, so a validator holding another
//! suite (or another version of one) refuses a job instead of running a different task under
//! the same id. It is part of the contract (`TaskRef.suite_digest`), defined here so that both
//! ends compute it alike; a stage in another language reproduces the rule below.
//!
//! Rule: SHA-256 over, for each task in id order and each file under the task's directory in
//! byte order of its path relative to that directory (`/`-separated, recursing into
//! directories, following no symlinks): `task_id "/" relative_path "\0"`, then for a regular
//! file `"f" <length as 8 bytes little-endian> <contents>`, for a symlink `"l" <target> "\0"`.
//! The digest is `s-` and the first 16 hex digits. The split manifest is not included (a task's
//! split does not change what evaluating it does).
//!
//! This module reads files; it never writes or runs anything.

use crate::{Error, Result};
use selfharness_core::task::Suite;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The digest of `suite` (see the module documentation for the rule).
pub fn suite_digest(suite: &Suite) -> Result<String> {
    let mut tasks: Vec<_> = suite.tasks.iter().collect();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = Sha256::new();
    for task in tasks {
        for rel in files(&task.dir)? {
            let path = task.dir.join(&rel);
            let io = |source| Error::Io {
                path: path.clone(),
                source,
            };
            h.update(format!("{}/{}\0", task.id, rel).as_bytes());
            let meta = std::fs::symlink_metadata(&path).map_err(io)?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(io)?;
                h.update(b"l");
                h.update(target.to_string_lossy().as_bytes());
                h.update(b"\0");
            } else {
                let bytes = std::fs::read(&path).map_err(io)?;
                h.update(b"f");
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
        }
    }
    Ok(format!("s-{}", &hex::encode(h.finalize())[..16]))
}

/// Files (and symlinks) under `root`, as sorted `/`-separated relative paths.
fn files(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let io = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let child = rel.join(entry.file_name());
            if entry.file_type().map_err(io)?.is_dir() {
                stack.push(child);
            } else {
                let parts: Vec<_> = child
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn suite(root: &Path, solve: &str) -> Suite {
        let t = root.join("hello");
        write(&t.join("instruction.md"), "Write /app/out.txt\n");
        write(&t.join("task.toml"), "version = \"1.0\"\n");
        write(&t.join("tests/test.sh"), "test -f /app/out.txt\n");
        write(&t.join("solution/solve.sh"), solve);
        write(&t.join("environment/Dockerfile"), "WORKDIR /app\n");
        Suite::load(root).unwrap()
    }

    #[test]
    fn the_digest_changes_with_any_file_and_only_then() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let da = suite_digest(&suite(a.path(), "echo hi > /app/out.txt\n")).unwrap();
        let db = suite_digest(&suite(b.path(), "echo hi > /app/out.txt\n")).unwrap();
        assert!(da.starts_with("s-") && da.len() == 18, "{da}");
        assert_eq!(da, db, "same content, different place: same digest");
        let dc = suite_digest(&suite(b.path(), "echo ho > /app/out.txt\n")).unwrap();
        assert_ne!(da, dc);
        write(&b.path().join("hello/environment/app/data.csv"), "x\n");
        let s = Suite::load(b.path()).unwrap();
        assert_ne!(suite_digest(&s).unwrap(), dc);
    }

    #[test]
    fn the_built_in_suite_has_a_digest() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks");
        let s = Suite::load(&dir).unwrap();
        let d = suite_digest(&s).unwrap();
        assert!(d.starts_with("s-") && d.len() == 18, "{d}");
        assert_eq!(d, suite_digest(&s).unwrap(), "deterministic");
    }
}
