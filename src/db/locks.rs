//! Advisory-lock keys, derived in one place so that every process computes the same key for the
//! same singleton: the first 8 bytes of sha256("stella-bundle:" + namespace + parts).

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The singletons coordinated with `pg_advisory_lock` / `pg_try_advisory_xact_lock`.
#[derive(Debug, Clone)]
pub enum LockKey<'a> {
    /// Serializes `db migrate`.
    Migrate,
    /// One import per tenant, bundle kind and source at a time (feed freshness checks).
    Source {
        tenant: Uuid,
        kind: &'a str,
        source: &'a str,
    },
    /// One scan per tenant and artifact.
    Scan {
        tenant: Uuid,
        artifact_purl: &'a str,
    },
    /// One refresh per projection.
    Refresh { projection: &'a str },
    /// One partition maintenance at a time.
    Partitions,
}

impl LockKey<'_> {
    /// The bigint key for `pg_advisory_lock`.
    pub fn key(&self) -> i64 {
        let mut h = Sha256::new();
        h.update(b"stella-bundle:");
        match self {
            LockKey::Migrate => h.update(b"migrate"),
            LockKey::Source {
                tenant,
                kind,
                source,
            } => {
                h.update(b"source:");
                h.update(tenant.as_bytes());
                h.update(kind.as_bytes());
                h.update(b"\0");
                h.update(source.as_bytes());
            }
            LockKey::Scan {
                tenant,
                artifact_purl,
            } => {
                h.update(b"scan:");
                h.update(tenant.as_bytes());
                h.update(artifact_purl.as_bytes());
            }
            LockKey::Refresh { projection } => {
                h.update(b"refresh:");
                h.update(projection.as_bytes());
            }
            LockKey::Partitions => h.update(b"partitions"),
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        i64::from_be_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let t = Uuid::nil();
        let a = LockKey::Scan {
            tenant: t,
            artifact_purl: "pkg:npm/a",
        }
        .key();
        assert_eq!(
            a,
            LockKey::Scan {
                tenant: t,
                artifact_purl: "pkg:npm/a"
            }
            .key()
        );
        assert_ne!(
            a,
            LockKey::Scan {
                tenant: t,
                artifact_purl: "pkg:npm/b"
            }
            .key()
        );
        assert_ne!(LockKey::Migrate.key(), LockKey::Partitions.key());
    }
}
