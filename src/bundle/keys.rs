//! Ed25519 keys: generation, PEM load/save (private PKCS#8, public SPKI; `openssl pkey` reads
//! both) and the securesystemslib key id.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::{BundleError, Result};

/// Key id of a raw Ed25519 public key: lowercase hex SHA-256 of securesystemslib's canonical
/// key dict `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}`.
pub fn keyid_of(key: &VerifyingKey) -> String {
    let dict = format!(
        r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
        hex::encode(key.as_bytes())
    );
    hex::encode(Sha256::digest(dict.as_bytes()))
}

/// True when `s` has the shape of a key id (64 lowercase hex characters).
pub fn is_keyid(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An Ed25519 public key and its key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    keyid: String,
}

impl PublicKey {
    /// Wraps a verifying key.
    pub fn new(key: VerifyingKey) -> Self {
        let keyid = keyid_of(&key);
        PublicKey { key, keyid }
    }

    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        if pem.contains("PRIVATE KEY") {
            return Err("this is a private key; give the public key (.pub)".into());
        }
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self::new)
            .map_err(|e| format!("not an Ed25519 SPKI PEM public key: {e}"))
    }

    /// Loads an SPKI PEM file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_small(path)?;
        Self::from_pem(&text).map_err(|msg| BundleError::Key {
            path: path.to_path_buf(),
            msg,
        })
    }

    /// SPKI PEM text (LF line endings, trailing newline).
    pub fn to_pem(&self) -> String {
        // Encoding a valid 32-byte key cannot fail; fall back to an empty string defensively.
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// securesystemslib key id.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The dalek verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Raw 32 bytes, lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    /// Strict Ed25519 verification of `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// An Ed25519 private key and its key id.
pub struct PrivateKey {
    key: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.public.keyid)
    }
}

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(|e| BundleError::Key {
            path: PathBuf::from("<random>"),
            msg: format!("no randomness: {e}"),
        })?;
        Ok(Self::from_seed(&seed))
    }

    /// A key from its 32-byte seed (tests and fixed demo keys).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::new(key.verifying_key());
        PrivateKey { key, public }
    }

    /// Parses a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, v1 or v2).
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        let key = SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| format!("not an Ed25519 PKCS#8 PEM private key: {e}"))?;
        let public = PublicKey::new(key.verifying_key());
        Ok(PrivateKey { key, public })
    }

    /// Loads a PKCS#8 PEM file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = zeroize::Zeroizing::new(read_small(path)?);
        Self::from_pem(&text).map_err(|msg| BundleError::Key {
            path: path.to_path_buf(),
            msg,
        })
    }

    /// PKCS#8 v1 PEM (the form OpenSSL writes), LF line endings.
    pub fn to_pem(&self) -> Result<zeroize::Zeroizing<String>> {
        let bytes = KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| BundleError::Key {
                path: PathBuf::from("<memory>"),
                msg: format!("cannot encode: {e}"),
            })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// securesystemslib key id.
    pub fn keyid(&self) -> &str {
        self.public.keyid()
    }

    /// Pure Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// What `keygen` wrote.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// `PREFIX.key`, mode 0600.
    pub private: PathBuf,
    /// `PREFIX.pub`.
    pub public: PathBuf,
    /// The key id.
    pub keyid: String,
}

/// Generates a key pair and writes `PREFIX.key` (PKCS#8 PEM, 0600) and `PREFIX.pub` (SPKI PEM),
/// refusing to overwrite either.
pub fn keygen(prefix: &Path) -> Result<KeyFiles> {
    let key = PrivateKey::generate()?;
    write_key_pair(&key, prefix)
}

/// Writes an existing key as `PREFIX.key` / `PREFIX.pub`, refusing to overwrite either.
pub fn write_key_pair(key: &PrivateKey, prefix: &Path) -> Result<KeyFiles> {
    let mut private = prefix.as_os_str().to_owned();
    private.push(".key");
    let mut public = prefix.as_os_str().to_owned();
    public.push(".pub");
    let (private, public) = (PathBuf::from(private), PathBuf::from(public));
    for p in [&private, &public] {
        if fs::symlink_metadata(p).is_ok() {
            return Err(BundleError::Exists(p.clone()));
        }
    }
    let pem = key.to_pem()?;
    write_new(&private, pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public, key.public().to_pem().as_bytes(), 0o644) {
        let _ = fs::remove_file(&private);
        return Err(e);
    }
    Ok(KeyFiles {
        private,
        public,
        keyid: key.keyid().to_string(),
    })
}

/// Creates `path` (never overwriting) with `mode`, writes and fsyncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                BundleError::Exists(path.to_path_buf())
            } else {
                BundleError::io(path, e)
            }
        })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| BundleError::io(path, e))
}

/// Reads a key file, refusing anything larger than 64 KiB.
fn read_small(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| BundleError::io(path, e))?;
    if meta.len() > 64 * 1024 {
        return Err(BundleError::Key {
            path: path.to_path_buf(),
            msg: "file too large for a key".into(),
        });
    }
    let bytes = fs::read(path).map_err(|e| BundleError::io(path, e))?;
    String::from_utf8(bytes).map_err(|_| BundleError::Key {
        path: path.to_path_buf(),
        msg: "not a PEM text file".into(),
    })
}
