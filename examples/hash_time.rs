//! Prints two figures of Argon2id with gatehouse's parameters, on gatehouse's own hasher: the
//! median time of one hash alone, and how many hashes per second the machine does with every
//! core hashing at once. scripts/bench takes the second as the login throughput bound: Argon2
//! is memory-bound, so hashes running side by side are each slower than one alone, and
//! "cores ÷ single-hash time" is a bound no server could reach.

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
    let (single, per_second) = runtime.block_on(async {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let _ = hasher.hash(&password).await;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        // Every core busy: `cores` hashes in flight at all times, `rounds` each.
        let started = Instant::now();
        let lanes = (0..cores).map(|_| async {
            for _ in 0..rounds {
                let _ = hasher.hash(&password).await;
            }
        });
        futures_util::future::join_all(lanes).await;
        let parallel = (cores * rounds) as f64 / started.elapsed().as_secs_f64();
        (times[rounds / 2], parallel)
    });
    println!("{single:.6} {per_second:.1}");
}
