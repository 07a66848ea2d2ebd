//! The parsed-manifest cache: manifests whose bytes are unchanged since the
//! last check (same path, same SHA-256) are decoded from here instead of
//! being parsed as YAML again, which is what makes a warm check of tens of
//! thousands of manifests fast.
//!
//! It is a derived cache beside the store (`<state>.d/manifests.cache`), not
//! a redb table, because `check` is a reader that must run while a sync
//! holds the store's single write lock. It is memory-mapped, checksummed,
//! replaced atomically (write to a temporary file, fsync, rename), and simply
//! ignored when missing or corrupt. Only manifests that parsed *and*
//! validated are cached, so a hit never hides an error.
//!
//! Layout (little-endian): magic `DFMC\0\0\0\x01`, u32 entry count, then per
//! entry a u32 length and the entry; then the SHA-256 of everything before.
//! An entry is: path, content SHA-256 (32 bytes), image, base, architecture
//! (empty = none), u32 package count and per package name, arch (empty =
//! none), version, u32 line, u32 column; u32 hold count and names; u32
//! label count and key/value pairs; then the six u32 of the top-level
//! positions. Strings are u32 length + UTF-8 bytes.

use super::manifest::{Manifest, ManifestPackage, ManifestPositions};
use crate::deb::hash::Sha256Digest;
use memmap2::Mmap;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"DFMC\0\0\0\x01";

/// A loaded cache: path -> (content hash, entry bytes).
pub struct ManifestCache {
    map: Option<Mmap>,
    index: HashMap<PathBuf, (Sha256Digest, std::ops::Range<usize>)>,
}

impl ManifestCache {
    /// An empty cache.
    pub fn empty() -> ManifestCache {
        ManifestCache {
            map: None,
            index: HashMap::new(),
        }
    }

    /// Loads the cache at `path`; any problem yields an empty cache.
    pub fn load(path: &Path) -> ManifestCache {
        Self::try_load(path).unwrap_or_else(|_| Self::empty())
    }

    fn try_load(path: &Path) -> Result<ManifestCache, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        // SAFETY: the cache file is only ever replaced by rename, never
        // modified in place, so the mapped bytes cannot change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| e.to_string())?;
        let b: &[u8] = &map;
        if b.len() < 8 + 4 + 32 || &b[..8] != MAGIC {
            return Err("bad magic".into());
        }
        let body = &b[..b.len() - 32];
        if Sha256Digest::of(body).0 != b[b.len() - 32..] {
            return Err("checksum mismatch".into());
        }
        let mut r = Reader { b: body, pos: 8 };
        let count = r.u32()? as usize;
        let mut index = HashMap::with_capacity(count);
        for _ in 0..count {
            let len = r.u32()? as usize;
            let start = r.pos;
            let end = start
                .checked_add(len)
                .filter(|&e| e <= body.len())
                .ok_or("entry out of bounds")?;
            let mut e = Reader {
                b: &body[..end],
                pos: start,
            };
            let p = PathBuf::from(e.str()?);
            let hash = e.digest()?;
            index.insert(p, (hash, start..end));
            r.pos = end;
        }
        Ok(ManifestCache {
            map: Some(map),
            index,
        })
    }

    /// Number of cached manifests.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The cached entry bytes for `path` when its content hash is `hash`.
    pub fn raw(&self, path: &Path, hash: &Sha256Digest) -> Option<&[u8]> {
        let (h, range) = self.index.get(path)?;
        if h != hash {
            return None;
        }
        self.map.as_ref()?.get(range.clone())
    }

    /// The cached entry bytes for `path`, whatever its hash.
    pub fn raw_by_path(&self, path: &Path) -> Option<&[u8]> {
        let (_, range) = self.index.get(path)?;
        self.map.as_ref()?.get(range.clone())
    }

    /// The cached manifest for `path` when its content hash is `hash`.
    pub fn get(&self, path: &Path, hash: &Sha256Digest) -> Option<Manifest> {
        decode(self.raw(path, hash)?).ok()
    }
}

/// Encodes one manifest as a cache entry.
pub fn encode(m: &Manifest) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + m.packages.len() * 40);
    put_str(&mut w, &m.path.to_string_lossy());
    w.extend_from_slice(&m.content_hash.0);
    put_str(&mut w, &m.image);
    put_str(&mut w, &m.base);
    put_str(&mut w, m.architecture.as_deref().unwrap_or(""));
    put_u32(&mut w, m.packages.len());
    for p in &m.packages {
        put_str(&mut w, &p.name);
        put_str(&mut w, p.arch.as_deref().unwrap_or(""));
        put_str(&mut w, &p.version);
        put_u32(&mut w, p.line);
        put_u32(&mut w, p.column);
    }
    put_u32(&mut w, m.hold.len());
    for h in &m.hold {
        put_str(&mut w, h);
    }
    put_u32(&mut w, m.labels.len());
    for (k, v) in &m.labels {
        put_str(&mut w, k);
        put_str(&mut w, v);
    }
    let (al, ac) = m.positions.architecture.unwrap_or((0, 0));
    for n in [
        m.positions.image.0,
        m.positions.image.1,
        m.positions.base.0,
        m.positions.base.1,
        al,
        ac,
    ] {
        put_u32(&mut w, n);
    }
    w
}

/// Decodes a cache entry.
pub fn decode(entry: &[u8]) -> Result<Manifest, String> {
    let mut r = Reader { b: entry, pos: 0 };
    let path = PathBuf::from(r.str()?);
    let content_hash = r.digest()?;
    let image = r.str()?.to_string();
    let base = r.str()?.to_string();
    let architecture = r.opt_str()?;
    let n = r.u32()? as usize;
    let mut packages = Vec::with_capacity(n.min(100_000));
    for _ in 0..n {
        packages.push(ManifestPackage {
            name: r.str()?.to_string(),
            arch: r.opt_str()?,
            version: r.str()?.to_string(),
            line: r.u32()? as usize,
            column: r.u32()? as usize,
        });
    }
    let n = r.u32()? as usize;
    let mut hold = Vec::with_capacity(n.min(100_000));
    for _ in 0..n {
        hold.push(r.str()?.to_string());
    }
    let n = r.u32()? as usize;
    let mut labels = std::collections::BTreeMap::new();
    for _ in 0..n {
        let k = r.str()?.to_string();
        labels.insert(k, r.str()?.to_string());
    }
    let mut pos = [0usize; 6];
    for p in &mut pos {
        *p = r.u32()? as usize;
    }
    Ok(Manifest {
        path,
        image,
        base,
        architecture,
        packages,
        hold,
        labels,
        content_hash,
        positions: ManifestPositions {
            image: (pos[0], pos[1]),
            base: (pos[2], pos[3]),
            architecture: (pos[4] != 0).then_some((pos[4], pos[5])),
        },
    })
}

/// Writes a new cache from entries (already encoded), atomically.
pub fn save<'a>(path: &Path, entries: impl Iterator<Item = &'a [u8]>) -> std::io::Result<()> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut count = 0u32;
    for e in entries {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
        count += 1;
    }
    out[8..12].copy_from_slice(&count.to_le_bytes());
    let sum = Sha256Digest::of(&out);
    out.extend_from_slice(&sum.0);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn put_u32(w: &mut Vec<u8>, n: usize) {
    w.extend_from_slice(&(u32::try_from(n).unwrap_or(u32::MAX)).to_le_bytes());
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len());
    w.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("overflow")?;
        let s = self.b.get(self.pos..end).ok_or("truncated entry")?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())
    }
    fn opt_str(&mut self) -> Result<Option<String>, String> {
        let s = self.str()?;
        Ok((!s.is_empty()).then(|| s.to_string()))
    }
    fn digest(&mut self) -> Result<Sha256Digest, String> {
        let s = self.take(32)?;
        let mut d = [0u8; 32];
        d.copy_from_slice(s);
        Ok(Sha256Digest(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hit_rules() {
        let bytes = b"image: a\nbase: b\narchitecture: amd64\npackages:\n  libc6: \"2.36-9\"\n  xx:i386: 1.0\nhold: [libc6]\nlabels: {team: t}\n";
        let m = super::super::manifest::parse_manifest(Path::new("/f/a.yaml"), bytes).unwrap();
        let entry = encode(&m);
        assert_eq!(decode(&entry).unwrap(), m);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c");
        save(&file, [entry.as_slice()].into_iter()).unwrap();
        let cache = ManifestCache::load(&file);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&m.path, &m.content_hash), Some(m.clone()));
        assert_eq!(cache.get(&m.path, &Sha256Digest::of(b"other")), None);
        // Corruption is ignored, not trusted.
        let mut raw = std::fs::read(&file).unwrap();
        raw[20] ^= 1;
        std::fs::write(&file, raw).unwrap();
        assert!(ManifestCache::load(&file).is_empty());
        assert!(decode(&entry[..entry.len() - 3]).is_err());
    }
}
