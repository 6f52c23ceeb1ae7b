//! `serve --max-conns` and `target.max_conns`: the most WebSocket connections the embedded server
//! holds at once. A connection takes a slot when its upgrade is about to be answered with 101 and
//! gives it back when its session ends (however it ends, a kill included); an upgrade that finds
//! every slot taken is answered `503 Service Unavailable` and closed. With `serve --procs N` the
//! count is one word of shared memory (a memfd each process maps), so the limit holds for all the
//! processes together: the kernel spreads connections over them unevenly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The status line an upgrade gets when every slot is taken.
pub const FULL: &str = "503 Service Unavailable";

/// The limit and the count of slots taken.
#[derive(Debug)]
pub struct ConnLimit {
    max: u64,
    count: Count,
}

#[derive(Debug)]
enum Count {
    /// One process: a plain atomic.
    Local(AtomicU64),
    /// Several processes: a word of the shared memory they all map.
    Shared(SharedWord),
}

impl ConnLimit {
    /// A limit for this process alone.
    pub fn local(max: u64) -> Self {
        Self {
            max,
            count: Count::Local(AtomicU64::new(0)),
        }
    }

    /// A limit shared with processes started later: they inherit the descriptor
    /// [`ConnLimit::shared_fd`] names (it is created without close-on-exec) and `attach` to it.
    pub fn shared(max: u64) -> io::Result<Self> {
        // SAFETY: the name is a NUL-terminated literal; flags 0 leave the descriptor
        // inheritable on purpose.
        let fd = unsafe { libc::memfd_create(c"wschaos-conn-limit".as_ptr(), 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create just returned this descriptor, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a valid descriptor; the size is that of one counter.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), WORD as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            max,
            count: Count::Shared(SharedWord::map(fd)?),
        })
    }

    /// The limit of the process that created the shared memory `fd` (inherited from it).
    pub fn attach(max: u64, fd: RawFd) -> io::Result<Self> {
        // SAFETY: fstat only reads the descriptor's metadata (EBADF for a closed one).
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstat succeeded, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        // A smaller file would fault on access instead of failing here.
        if stat.st_size < WORD as libc::off_t {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} is not a connection-limit counter"),
            ));
        }
        // SAFETY: the descriptor is open (fstat said so) and was handed to this process to own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            max,
            count: Count::Shared(SharedWord::map(fd)?),
        })
    }

    /// The descriptor processes started later inherit, for a shared limit.
    pub fn shared_fd(&self) -> Option<RawFd> {
        match &self.count {
            Count::Local(_) => None,
            Count::Shared(word) => Some(word.fd.as_raw_fd()),
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    fn counter(&self) -> &AtomicU64 {
        match &self.count {
            Count::Local(count) => count,
            Count::Shared(word) => word.get(),
        }
    }

    /// Slots taken right now (by every process sharing the limit).
    pub fn taken(&self) -> u64 {
        self.counter().load(Ordering::Relaxed)
    }

    /// A slot, if one is free; it frees itself when dropped.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        self.counter()
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |taken| {
                (taken < self.max).then_some(taken + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

/// One connection's place under the limit.
#[derive(Debug)]
pub struct Slot(Arc<ConnLimit>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.counter().fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes of the shared counter.
const WORD: usize = std::mem::size_of::<u64>();

/// A counter in shared memory, mapped for as long as this lives.
#[derive(Debug)]
struct SharedWord {
    fd: OwnedFd,
    word: NonNull<AtomicU64>,
}

// SAFETY: the mapping is only ever accessed through the atomic it holds.
unsafe impl Send for SharedWord {}
// SAFETY: as above; atomics are made to be shared.
unsafe impl Sync for SharedWord {}

impl SharedWord {
    fn map(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of a descriptor checked to hold at least `WORD` bytes.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                WORD,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // A mapping is page-aligned, enough for an AtomicU64, and not null once mmap succeeded.
        let word = NonNull::new(at.cast::<AtomicU64>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Self { fd, word })
    }

    fn get(&self) -> &AtomicU64 {
        // SAFETY: mapped, aligned and zero-initialised (a new memfd reads as zeros) until drop.
        unsafe { self.word.as_ref() }
    }
}

impl Drop for SharedWord {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no reference outlives `self`.
        unsafe {
            libc::munmap(self.word.as_ptr().cast(), WORD);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_at_the_limit_and_free_when_dropped() {
        let limit = Arc::new(ConnLimit::local(2));
        let first = limit.try_take();
        let second = limit.try_take();
        assert!(first.is_some() && second.is_some());
        assert!(limit.try_take().is_none(), "a third slot past max 2");
        assert_eq!(limit.taken(), 2);
        drop(first);
        assert_eq!(limit.taken(), 1);
        assert!(limit.try_take().is_some(), "a freed slot is taken again");
        assert_eq!(limit.taken(), 1, "and freed again when dropped");
    }

    #[test]
    fn a_shared_limit_counts_the_slots_of_every_mapping() {
        let owner = Arc::new(ConnLimit::shared(2).expect("memfd"));
        let fd = owner.shared_fd().expect("shared");
        // What a sibling process does with the inherited descriptor (here: a copy of it).
        // SAFETY: dup of an open descriptor.
        let copy = unsafe { libc::dup(fd) };
        assert!(copy >= 0);
        let sibling = Arc::new(ConnLimit::attach(2, copy).expect("attach"));
        let mine = owner.try_take();
        let theirs = sibling.try_take();
        assert!(mine.is_some() && theirs.is_some());
        assert!(owner.try_take().is_none() && sibling.try_take().is_none());
        drop(theirs);
        assert_eq!(owner.taken(), 1);
        assert!(owner.try_take().is_some());
    }

    #[test]
    fn attaching_to_something_else_fails_without_mapping_it() {
        assert!(ConnLimit::attach(1, -1).is_err());
        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        let fd = std::os::fd::IntoRawFd::into_raw_fd(file);
        assert!(ConnLimit::attach(1, fd).is_err());
        // SAFETY: attach gave the descriptor back unowned on failure.
        unsafe { libc::close(fd) };
    }
}
