//! The file system as the parser sees it.
//!
//! `Include`, `IncludeOptional` and `<IfFile>` need to read files, list
//! directories and test for existence. They go through [`ConfigFs`] so the
//! parser can run on an in-memory tree in tests and under the fuzzer.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub trait ConfigFs {
    fn read_to_string(&self, path: &Path, max_bytes: u64) -> io::Result<String>;
    fn is_dir(&self, path: &Path) -> bool;
    fn exists(&self, path: &Path) -> bool;
    /// Entry names of a directory (not full paths), in any order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl ConfigFs for RealFs {
    fn read_to_string(&self, path: &Path, max_bytes: u64) -> io::Result<String> {
        use std::io::Read;
        let file = std::fs::File::open(path)?;
        if file.metadata()?.is_dir() {
            return Err(io::Error::other("is a directory"));
        }
        let mut buf = Vec::new();
        file.take(max_bytes + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than the limit of {max_bytes} bytes"),
            ));
        }
        // Apache reads bytes; a stray Latin-1 byte in a comment must not stop us.
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }
}

/// An in-memory tree: files by absolute path; directories are implied.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<PathBuf, String>,
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.insert(path, text);
        self
    }

    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) {
        self.files.insert(path.into(), text.into());
    }
}

impl ConfigFs for MemFs {
    fn read_to_string(&self, path: &Path, max_bytes: u64) -> io::Result<String> {
        match self.files.get(path) {
            Some(t) if t.len() as u64 > max_bytes => Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than the limit of {max_bytes} bytes"),
            )),
            Some(t) => Ok(t.clone()),
            None if self.is_dir(path) => Err(io::Error::other("is a directory")),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "No such file or directory",
            )),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.files.keys().any(|p| p.starts_with(path) && p != path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(path) || self.is_dir(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        if !self.is_dir(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "No such file or directory",
            ));
        }
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(path).ok())
            .filter_map(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        names.dedup();
        Ok(names)
    }
}
