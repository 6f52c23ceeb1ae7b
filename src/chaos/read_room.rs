//! How much room a pump makes for its next read. Little while frames are small (a connection
//! that carries heartbeats holds about 1 KiB per direction: the proxy's memory per connection
//! is mostly these buffers), doubling while reads fill it (a burst, a large message, fewer
//! reads), and back to little once reads are small again, letting a large buffer go.

use bytes::BytesMut;

#[derive(Debug)]
pub(super) struct ReadRoom {
    room: usize,
}

impl ReadRoom {
    pub const MIN: usize = 1024;
    pub const MAX: usize = 64 * 1024;

    pub fn new() -> Self {
        Self { room: Self::MIN }
    }

    /// Makes room in `buf` for the next read; returns the room there is.
    pub fn prepare(&self, buf: &mut BytesMut) -> usize {
        if buf.is_empty() && buf.capacity() > 4 * self.room {
            // Left from a burst: let it go (freed once the frames cut from it are written).
            *buf = BytesMut::new();
        }
        if buf.capacity() - buf.len() < self.room / 4 {
            // Once the bytes read before have been written, this reuses the same memory.
            buf.reserve(self.room);
        }
        buf.capacity() - buf.len()
    }

    /// A read of `read` bytes into `room` bytes of room.
    pub fn after_read(&mut self, read: usize, room: usize) {
        if read >= room {
            self.room = (self.room * 2).min(Self::MAX);
        } else if read < self.room / 8 {
            self.room = (self.room / 2).max(Self::MIN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_while_reads_fill_it_and_shrinks_back_when_they_are_small() {
        let mut room = ReadRoom::new();
        let mut buf = BytesMut::new();
        let first = room.prepare(&mut buf);
        assert!(
            (ReadRoom::MIN..2 * ReadRoom::MIN).contains(&first),
            "{first}"
        );
        // A burst: every read fills the room.
        let mut sizes = Vec::new();
        for _ in 0..10 {
            let had = room.prepare(&mut buf);
            buf.extend_from_slice(&vec![0; had]);
            room.after_read(had, had);
            sizes.push(room.room);
            let _ = buf.split(); // written on
        }
        assert_eq!(*sizes.last().expect("ten"), ReadRoom::MAX);
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
        // Heartbeats again: small reads bring it back down, and the big buffer goes.
        for _ in 0..10 {
            let had = room.prepare(&mut buf);
            buf.extend_from_slice(b"heartbeat");
            room.after_read(9, had);
            let _ = buf.split();
        }
        assert_eq!(room.room, ReadRoom::MIN);
        room.prepare(&mut buf);
        assert!(buf.capacity() < 4 * ReadRoom::MIN, "{}", buf.capacity());
    }

    #[test]
    fn bytes_that_wait_are_never_dropped() {
        let room = ReadRoom::new();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.extend_from_slice(b"partial frame");
        room.prepare(&mut buf);
        assert_eq!(&buf[..], b"partial frame");
    }
}
