//! Reading a hostile config costs bounded memory: the peak of heap bytes allocated while
//! `config::load_str` runs, measured by a counting global allocator (this test binary only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use llm_router::config;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One test at a time: the counters are process-wide, so another test building its text
/// would count in this one's peak.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads `text`; returns the diagnostics, the peak heap growth while loading, and the time.
fn load_measured(text: &str) -> (Vec<String>, usize, Duration) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let t0 = Instant::now();
    let result = config::load_str(text, "big.yaml");
    let elapsed = t0.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let diags = match result {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    };
    (diags, peak, elapsed)
}

const MIB: usize = 1 << 20;

/// What reading any refused file may hold at its peak, besides the file's text itself.
const BUDGET: usize = 100 * MIB;

#[test]
fn a_megabyte_string_aliased_1500_times_is_refused_in_bounded_memory() {
    let _serial = one_at_a_time();
    let mut text = format!("big: &s \"{}\"\nmodel_list:\n", "x".repeat(MIB));
    for _ in 0..1500 {
        text += "  - *s\n";
    }
    let (diags, peak, elapsed) = load_measured(&text);
    eprintln!("1,500 aliases of 1 MiB: peak {} MiB in {elapsed:?}", peak / MIB);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].starts_with("big.yaml:8:5: aliases expand the config past 5.0 MiB"), "{diags:?}");
    // The expanded document would be 1.5 GB; refusing it holds a few copies of the string.
    assert!(peak < 12 * MIB, "peak {} MiB", peak / MIB);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn billion_laughs_is_refused_in_bounded_memory() {
    let _serial = one_at_a_time();
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text += &format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n");
    }
    let (diags, peak, elapsed) = load_measured(&text);
    eprintln!("billion laughs: peak {} KiB in {elapsed:?}", peak >> 10);
    assert!(diags.iter().any(|d| d.contains("aliases expand the config past 1.0 MiB")), "{diags:?}");
    assert!(peak < 4 * MIB, "peak {} KiB", peak >> 10);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_file_of_millions_of_tiny_values_is_refused_within_the_budget() {
    let _serial = one_at_a_time();
    // Under the file size cap, but about 500 MB once read without a ceiling.
    let text = format!("model_list: [{}1]\n", "1,".repeat(7 * MIB));
    let (diags, peak, elapsed) = load_measured(&text);
    eprintln!("7 million tiny values: peak {} MiB in {elapsed:?}", peak / MIB);
    assert!(diags.iter().any(|d| d.contains("holds more than 64.0 MiB once read")), "{diags:?}");
    assert!(peak < BUDGET, "peak {} MiB", peak / MIB);
}
