//! Prints the median time of one Argon2id hash with gatehouse's parameters (used by scripts/bench
//! to compute the login throughput bound: cores ÷ single-hash time).

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
    let mut times: Vec<f64> = runtime.block_on(async {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let _ = hasher.hash(&password).await;
            times.push(started.elapsed().as_secs_f64());
        }
        times
    });
    times.sort_by(f64::total_cmp);
    println!("{:.6}", times[rounds / 2]);
}
