//! Size limits applied while reading a bundle, so a hostile archive (a zstd bomb, a huge entry,
//! an endless envelope) stops at the limit instead of exhausting memory or disk.

/// One GiB: the default limit for a single payload entry.
pub const DEFAULT_MAX_ENTRY: u64 = 1 << 30;
/// Eight GiB: the default limit for all payload entries together.
pub const DEFAULT_MAX_TOTAL: u64 = 8 << 30;
/// 64 MiB: the default limit for the DSSE envelope (it is held in memory). Its statement lists
/// every entry (~250 bytes each once base64-encoded), so this admits snapshots of about 250,000
/// documents while still stopping an endless envelope long before memory runs out.
pub const DEFAULT_MAX_ENVELOPE: u64 = 64 << 20;
/// Most zero bytes accepted after the tar end-of-archive marker (GNU tar pads to 10 KiB records).
pub const MAX_TRAILING_ZEROS: u64 = 1 << 20;
/// zstd window limit for the decoder (2^24 = 16 MiB): keeps decoder memory bounded whatever the
/// frame header asks for. Bundles written by this crate use a smaller window.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// Most signatures looked at in one envelope.
pub const MAX_SIGNATURES: usize = 16;

/// Limits enforced while verifying (and checked when creating, so a bundle this crate writes
/// is always accepted by a reader with the same limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload entry, in bytes (after decompression).
    pub max_entry: u64,
    /// Largest sum of payload entry sizes, in bytes.
    pub max_total: u64,
    /// Largest `stella-bundle.dsse.json`, in bytes.
    pub max_envelope: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry: DEFAULT_MAX_ENTRY,
            max_total: DEFAULT_MAX_TOTAL,
            max_envelope: DEFAULT_MAX_ENVELOPE,
        }
    }
}
