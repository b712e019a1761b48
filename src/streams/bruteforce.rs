//! Per-source failure counter: flags an address once it reaches N failures within a time window
//! (Wazuh's classic sshd rule is 8 failures in 120 s).
//!
//! Each tracked address keeps a fixed ring of its last N failure times, so observing a failure for an
//! already tracked address does not allocate. At most `capacity` addresses are tracked; when full, the
//! address tracked longest is evicted (first in, first out), which keeps memory bounded under a
//! distributed attack.

use super::{FNV_START, fnv1a};
use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Default number of tracked addresses.
pub const DEFAULT_CAPACITY: usize = 4096;

#[derive(Debug)]
struct Entry {
    /// Ring of the last `failures` timestamps; `len` of them are valid, `head` is the oldest.
    times: Box<[f64]>,
    head: usize,
    len: usize,
}

#[derive(Debug)]
pub struct BruteForce {
    failures: usize,
    window: f64,
    entries: Fifo<String, Entry>,
}

/// A map of at most `capacity` entries that forgets the one inserted first when a new key
/// comes and it is full: memory stays bounded whatever a flood of new keys.
#[derive(Debug)]
struct Fifo<K, V> {
    capacity: usize,
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V> Fifo<K, V> {
    fn new(capacity: usize) -> Self {
        Fifo { capacity: capacity.max(1), map: HashMap::new(), order: VecDeque::new() }
    }

    fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.map.get_mut(key)
    }

    /// Inserts `key`, which is not in the map, first forgetting the oldest key when full.
    fn insert_new(&mut self, key: K, value: V) -> &mut V {
        if self.map.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(key.clone());
        self.map.entry(key).or_insert(value)
    }

    /// Room for all `capacity` entries at once: grown step by step, the map's old tables
    /// stay behind in linear memory.
    fn reserve_all(&mut self) {
        if self.map.capacity() < self.capacity {
            self.map.reserve(self.capacity);
            self.order.reserve(self.capacity);
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

impl BruteForce {
    /// `failures` within `window_seconds` flags an address; `failures` of 0 is treated as 1.
    pub fn new(failures: u32, window_seconds: u64) -> Self {
        Self::with_capacity(failures, window_seconds, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(failures: u32, window_seconds: u64, capacity: usize) -> Self {
        BruteForce { failures: failures.max(1) as usize, window: window_seconds as f64, entries: Fifo::new(capacity) }
    }

    /// Number of addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    /// Records one failure from `ip` at `now_seconds` (any monotonic-enough clock, e.g. the record
    /// timestamp). Returns true when this failure is the `failures`-th within the window; the address's
    /// history is then cleared so it fires again only after another full set of failures, like a
    /// frequency rule, rather than tagging every following record.
    pub fn observe_failure(&mut self, ip: &str, now_seconds: f64) -> bool {
        let n = self.failures;
        let window = self.window;
        let e = match self.entries.get_mut(ip) {
            Some(e) => e,
            None => {
                let times = vec![0.0; n].into_boxed_slice();
                self.entries.insert_new(ip.to_owned(), Entry { times, head: 0, len: 0 })
            }
        };
        // Drop timestamps that fell out of the window.
        while e.len > 0 && now_seconds - e.times[e.head] > window {
            e.head = (e.head + 1) % n;
            e.len -= 1;
        }
        if e.len == n {
            // Ring full but all within the window cannot happen (it would have fired); stay safe.
            e.head = (e.head + 1) % n;
            e.len -= 1;
        }
        let tail = (e.head + e.len) % n;
        e.times[tail] = now_seconds;
        e.len += 1;
        if e.len == n {
            e.len = 0;
            e.head = 0;
            return true;
        }
        false
    }

    /// Records `count` failures from `ip` at `now_seconds`, one after the other, as
    /// [`BruteForce::observe_failure`] does each; true when any of them fires. A failure that
    /// fires leaves the address's ring empty, and `failures` more at the same time fill it,
    /// fire and leave it empty again: only the rest of the count after whole rounds is
    /// observed. One call per failure took time linear in a count a line states (`message
    /// repeated 4294967295 times`): minutes for one line of a hundred bytes.
    pub fn observe_failures(&mut self, ip: &str, now_seconds: f64, count: u32) -> bool {
        let mut fired = false;
        let mut left = count as usize;
        while left > 0 {
            left -= 1;
            if self.observe_failure(ip, now_seconds) {
                fired = true;
                left %= self.failures;
            }
        }
        fired
    }
}

/// How many failed attempts a connection has made, from the lines written about them.
///
/// sshd writes a `Failed <method>` line per attempt, PAM an `authentication failure` line per
/// password attempt; `Invalid user`, and a disconnect while authenticating, come once per
/// connection. A log may hold any of them (PAM-only logs; a key-only server where a scanner
/// leaves only `Invalid user`, or only the disconnect when the failed keys are logged at
/// VERBOSE). Counting
/// every line counted one guess up to three times; counting one kind missed the logs without
/// it. A connection (source address and sshd pid) has made as many attempts as the most lines
/// of any one kind, so each line tells whether it is a new attempt or another line about one
/// already counted. At most `capacity` connections are tracked, the oldest evicted first.
#[derive(Debug)]
pub struct Attempts {
    /// Keyed by a hash of the address (two addresses sharing one would share a pid's
    /// counts too) and the pid: no allocation per line.
    lines: Fifo<(u64, u64), [u32; Attempts::KINDS]>,
}

impl Attempts {
    /// The kinds of lines a caller tells apart.
    pub const KINDS: usize = 4;
    /// A connection's lines come within seconds of each other: the last thousand connections
    /// are plenty.
    pub const CAPACITY: usize = 1024;

    pub fn new() -> Self {
        Attempts { lines: Fifo::new(Attempts::CAPACITY) }
    }

    /// Records `n` lines of `kind` (below [`Attempts::KINDS`]) about the connection from `ip`
    /// served by sshd process `pid` (0 when unknown: the address's lines then count as one
    /// connection's); returns how many new attempts they show.
    pub fn record(&mut self, ip: &str, pid: u64, kind: usize, n: u32) -> u32 {
        let key = (fnv1a(FNV_START, ip.bytes()), pid);
        // Sized once, when the first login fails.
        self.lines.reserve_all();
        let counts = match self.lines.get_mut(&key) {
            Some(counts) => counts,
            None => self.lines.insert_new(key, [0; Attempts::KINDS]),
        };
        let before = counts.iter().copied().max().unwrap_or(0);
        if let Some(count) = counts.get_mut(kind) {
            *count = count.saturating_add(n);
        }
        counts.iter().copied().max().unwrap_or(0) - before
    }
}

impl Default for Attempts {
    fn default() -> Self {
        Attempts::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_has_as_many_attempts_as_lines_of_one_kind() {
        const FAILED: usize = 0;
        const PAM: usize = 1;
        const INVALID: usize = 2;
        let mut a = Attempts::new();
        // Invalid user, then two guesses each written by PAM and by sshd.
        let lines = [INVALID, PAM, FAILED, PAM, FAILED];
        let new: Vec<u32> = lines.iter().map(|&kind| a.record("192.0.2.1", 42, kind, 1)).collect();
        assert_eq!(new, [1, 0, 0, 1, 0]);
        // Another connection from the same address counts on its own.
        assert_eq!(a.record("192.0.2.1", 43, FAILED, 1), 1);
        // PAM alone, or `Invalid user` alone once per connection, still count.
        assert_eq!((0..5).map(|_| a.record("192.0.2.2", 7, PAM, 1)).sum::<u32>(), 5);
        assert_eq!((0..5).map(|pid| a.record("192.0.2.3", pid, INVALID, 1)).sum::<u32>(), 5);
        // `message repeated 3 times` is three lines.
        assert_eq!(a.record("192.0.2.4", 1, FAILED, 3), 3);
        assert_eq!(a.record("192.0.2.4", 1, PAM, 2), 0);
        // Unknown kinds count nothing.
        assert_eq!(a.record("192.0.2.5", 1, Attempts::KINDS, 1), 0);
    }

    #[test]
    fn attempts_memory_is_bounded() {
        let mut a = Attempts { lines: Fifo::new(3) };
        for pid in 0..10 {
            a.record("192.0.2.1", pid, 0, 1);
        }
        assert_eq!((a.lines.len(), a.lines.order.len()), (3, 3));
    }

    #[test]
    fn eight_in_120_flags_on_eighth() {
        let mut b = BruteForce::new(8, 120);
        for i in 0..7 {
            assert!(!b.observe_failure("192.0.2.1", 1000.0 + f64::from(i) * 10.0), "failure {}", i + 1);
        }
        assert!(b.observe_failure("192.0.2.1", 1070.0));
        // Counting restarts after an alert.
        assert!(!b.observe_failure("192.0.2.1", 1071.0));
        // Other addresses are independent.
        assert!(!b.observe_failure("2001:db8::1", 1071.0));
    }

    #[test]
    fn window_slides() {
        let mut b = BruteForce::new(8, 120);
        // 8 failures, but the first has left the window when the 8th arrives at 121 s.
        for (i, t) in [0.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 121.0].into_iter().enumerate() {
            assert!(!b.observe_failure("198.51.100.7", t), "failure {}", i + 1);
        }
        // The 9th makes 8 within [30, 122]: flags.
        assert!(b.observe_failure("198.51.100.7", 122.0));
        // Exactly at the window edge still counts.
        let mut b = BruteForce::new(2, 120);
        assert!(!b.observe_failure("a", 0.0));
        assert!(b.observe_failure("a", 120.0));
    }

    #[test]
    fn bounded_memory() {
        let mut b = BruteForce::with_capacity(3, 60, 4);
        for i in 0..10 {
            b.observe_failure(&format!("10.0.0.{i}"), 1.0);
        }
        assert_eq!(b.tracked(), 4);
        assert_eq!(b.entries.order.len(), 4);
        // The oldest were evicted; the newest keep counting.
        assert!(!b.observe_failure("10.0.0.9", 2.0));
        assert!(b.observe_failure("10.0.0.9", 3.0));
        assert!(!b.observe_failure("10.0.0.0", 3.0));
    }

    #[test]
    fn many_failures_at_once_are_as_many_one_after_the_other() {
        // Against one call per failure: the same answers, and the same rings after them.
        let ring = |b: &BruteForce, ip: &str| {
            b.entries.map.get(ip).map(|e| (0..e.len).map(|i| e.times[(e.head + i) % e.times.len()]).collect::<Vec<_>>())
        };
        let mut seed = 0x2545_f491_u32;
        let mut next = |m: u32| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 8) % m
        };
        let mut fired = 0;
        for _ in 0..300 {
            let (failures, window) = (1 + next(9), u64::from(next(50)));
            let (mut at_once, mut one_by_one) = (BruteForce::new(failures, window), BruteForce::new(failures, window));
            let mut now = 0.0;
            for _ in 0..20 {
                now += f64::from(next(30));
                let ip = ["192.0.2.1", "192.0.2.2"][next(2) as usize];
                let count = match next(4) {
                    0 => next(3),
                    1 => next(40),
                    2 => 1000 + next(100),
                    _ => failures * next(4) + next(2),
                };
                let want = (0..count).fold(false, |f, _| one_by_one.observe_failure(ip, now) || f);
                assert_eq!(at_once.observe_failures(ip, now, count), want, "{failures} {window} {count}");
                assert_eq!(ring(&at_once, ip), ring(&one_by_one, ip));
                fired += usize::from(want);
            }
        }
        assert!(fired > 100, "{fired}");
        // A count no one would wait for.
        let mut b = BruteForce::new(8, 120);
        assert!(b.observe_failures("192.0.2.1", 0.0, u32::MAX));
        assert_eq!(ring(&b, "192.0.2.1").map(|r| r.len()), Some((u32::MAX % 8) as usize));
    }

    #[test]
    fn single_failure_threshold() {
        let mut b = BruteForce::new(0, 10);
        assert!(b.observe_failure("x", 0.0));
        assert!(b.observe_failure("x", 0.0));
    }

    #[test]
    fn loghub_sweep() {
        // Sanity on real data: the LabSZ brute force must trip for at least one address.
        use super::super::{ssh, syslog};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/authlog/loghub_OpenSSH_2k.log");
        let text = std::fs::read_to_string(path).unwrap();
        let mut b = BruteForce::new(8, 120);
        let mut alerts = 0;
        for line in text.lines() {
            let Some(l) = syslog::parse(line) else { continue };
            let Some(ev) = ssh::parse(l.message) else { continue };
            // Derive seconds from the BSD time of day; the sample spans a few hours of one day.
            let ts = l.timestamp.unwrap_or("");
            let hms = &ts[ts.len() - 8..];
            let secs: f64 = hms.split(':').fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap());
            if let (Some(_), Some(ip)) = (ev.attempt_line(), ev.ip) {
                alerts += usize::from(b.observe_failure(ip, secs));
            }
        }
        println!("bruteforce: {alerts} alerts over loghub_OpenSSH_2k.log");
        assert!(alerts > 0);
    }
}
