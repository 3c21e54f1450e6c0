//! The trust store (`$STELLA_HOME/trust/<keyid>.pub`) and [`TrustSet`], the keys a verification
//! accepts: the store's keys plus any extra `--trust PUB` files.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{BundleError, Result};
use super::keys::{is_keyid, PublicKey};

/// A set of trusted public keys, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustSet {
    keys: BTreeMap<String, PublicKey>,
}

impl TrustSet {
    /// An empty set (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.keyid().to_string(), key);
    }

    /// Adds the key of an SPKI PEM file.
    pub fn add_file(&mut self, path: &Path) -> Result<&PublicKey> {
        let key = PublicKey::load(path)?;
        let id = key.keyid().to_string();
        Ok(self.keys.entry(id).or_insert(key))
    }

    /// The store's keys plus the extra `--trust` files.
    pub fn load(store: &TrustStore, extra: &[PathBuf]) -> Result<Self> {
        let mut set = store.trust_set()?;
        for p in extra {
            set.add_file(p)?;
        }
        Ok(set)
    }

    /// The key with this id.
    pub fn get(&self, keyid: &str) -> Option<&PublicKey> {
        self.keys.get(keyid)
    }

    /// All keys, by key id.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// A key in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Its key id.
    pub keyid: String,
    /// Its file, `<keyid>.pub`.
    pub file: PathBuf,
}

/// The trust store folder.
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// The store of a home folder: `HOME/trust`.
    pub fn in_home(home: &Path) -> Self {
        TrustStore {
            dir: home.join("trust"),
        }
    }

    /// A store at an explicit folder.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        TrustStore { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates `pub_file` and stores it as `<keyid>.pub`. Idempotent: adding the same key again
    /// returns the existing entry. Returns the entry and whether it was new.
    pub fn add(&self, pub_file: &Path) -> Result<(TrustedKey, bool)> {
        let key = PublicKey::load(pub_file)?;
        let file = self.dir.join(format!("{}.pub", key.keyid()));
        let entry = TrustedKey {
            keyid: key.keyid().to_string(),
            file: file.clone(),
        };
        if file.exists() {
            return Ok((entry, false));
        }
        fs::create_dir_all(&self.dir).map_err(|e| BundleError::io(&self.dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".trust-")
            .tempfile_in(&self.dir)
            .map_err(|e| BundleError::io(&self.dir, e))?;
        tmp.write_all(key.to_pem().as_bytes())
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| BundleError::io(tmp.path(), e))?;
        tmp.persist(&file)
            .map_err(|e| BundleError::io(&file, e.error))?;
        sync_dir(&self.dir);
        Ok((entry, true))
    }

    /// Keys in the store, sorted by key id. A missing folder is an empty store.
    pub fn list(&self) -> Result<Vec<TrustedKey>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BundleError::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for de in rd {
            let de = de.map_err(|e| BundleError::io(&self.dir, e))?;
            let name = de.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(id) = name.strip_suffix(".pub") else {
                continue;
            };
            if is_keyid(id) {
                out.push(TrustedKey {
                    keyid: id.to_string(),
                    file: de.path(),
                });
            }
        }
        out.sort_by(|a, b| a.keyid.cmp(&b.keyid));
        Ok(out)
    }

    /// Removes a key by id; an unknown id is an error.
    pub fn remove(&self, keyid: &str) -> Result<TrustedKey> {
        if !is_keyid(keyid) {
            return Err(BundleError::Usage(format!(
                "{keyid:?} is not a key id (64 lowercase hex)"
            )));
        }
        let file = self.dir.join(format!("{keyid}.pub"));
        match fs::remove_file(&file) {
            Ok(()) => {
                sync_dir(&self.dir);
                Ok(TrustedKey {
                    keyid: keyid.to_string(),
                    file,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BundleError::UnknownKey(keyid.to_string()))
            }
            Err(e) => Err(BundleError::io(&file, e)),
        }
    }

    /// All keys of the store. A file whose key does not match its name is an error (a tampered
    /// store must not silently trust something else).
    pub fn trust_set(&self) -> Result<TrustSet> {
        let mut set = TrustSet::new();
        for k in self.list()? {
            let key = PublicKey::load(&k.file)?;
            if key.keyid() != k.keyid {
                return Err(BundleError::Key {
                    path: k.file,
                    msg: format!("holds key {}, not the key its name says", key.keyid()),
                });
            }
            set.insert(key);
        }
        Ok(set)
    }
}

/// fsyncs a folder so a rename or removal in it is durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}
