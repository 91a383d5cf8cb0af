//! Prints two figures of Argon2id with gatehouse's parameters, on gatehouse's own hasher: the
//! median time of one hash alone, and how many hashes per second the machine does with every
//! core hashing at once. scripts/bench takes the second as the login throughput bound: Argon2
//! is memory-bound, so hashes running side by side are each slower than one alone, and
//! "cores ÷ single-hash time" is a bound no server could reach.
//!
//! `hash_time [SECONDS]`: the all-cores figure is taken over SECONDS (default 1). The machine's
//! speed drifts from second to second; scripts/bench measures the bound for as long as its
//! login run, right before and right after it.

use std::time::Instant;

fn main() {
    let rounds = 15;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("runtime: {e}");
            std::process::exit(1)
        });
    let hasher = gatehouse::passwords::Hasher::new().unwrap_or_else(|e| {
        eprintln!("hasher: {e}");
        std::process::exit(1)
    });
    let password = gatehouse::domain::Password::new("violet tugboat harmonica".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    let (single, per_second) = runtime.block_on(async {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let _ = hasher.hash(&password).await;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        // Every core busy: `cores` hashes in flight at all times, until `seconds` have passed.
        let started = Instant::now();
        let lanes = (0..cores).map(|_| async {
            let mut done = 0usize;
            while started.elapsed().as_secs_f64() < seconds {
                let _ = hasher.hash(&password).await;
                done += 1;
            }
            done
        });
        let hashes: usize = futures_util::future::join_all(lanes)
            .await
            .into_iter()
            .sum();
        let parallel = hashes as f64 / started.elapsed().as_secs_f64();
        (times[rounds / 2], parallel)
    });
    println!("{single:.6} {per_second:.1}");
}
