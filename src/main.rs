//! The `gatehouse` command line: serve, migrate, check-config and operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use gatehouse::config::{Config, LogFormat, Overrides};
use gatehouse::state::AppState;

/// The version and the commit the binary was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILT_FROM_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version = VERSION,
    about = "Self-hosted authentication and account service"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Where the SQLite database, secret key and dev mail live.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print the merged configuration with secrets masked.
    CheckConfig,
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: gatehouse::admin::cli::AdminCommand,
    },
    /// Mail delivery.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Bring accounts over from another system.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Copy the SQLite database consistently while the server runs, with the server key beside
    /// it as FILE.key (mode 0600); on PostgreSQL, print the pg_dump command to use.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
        /// Replace FILE and FILE.key if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Put a backup in place of the SQLite database (the server must be stopped); also restores
    /// FILE.key when the data directory has no key.
    Restore {
        file: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration and everything it names, one line per check; exits non-zero
    /// when a check fails.
    Doctor,
    /// Print an example configuration with every key, its default and its meaning.
    ConfigExample,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Users, teams, memberships and API tokens from RAGFlow's MySQL/MariaDB database (ids kept;
    /// rows already present are skipped, so it can be run again).
    Ragflow {
        /// RAGFlow's database, e.g. mysql://user:password@host:3306/rag_flow (or from the
        /// environment, which keeps the password out of the process list).
        #[arg(long, env = "RAGFLOW_DATABASE_URL", hide_env_values = true)]
        from: String,
        /// Read everything and print what would be imported, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Send one test message now through the configured transport and print the answer.
    Test {
        /// Recipient address.
        #[arg(long)]
        to: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = without_config(&cli.command) {
        return code;
    }
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
    };
    let loaded = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(l) => l,
        Err(e) if matches!(cli.command, Command::Doctor) => {
            println!("{}", gatehouse::ops::doctor::config_failed(&e));
            return ExitCode::FAILURE;
        }
        Err(e) => return fail(&e),
    };
    init_tracing(loaded.config.log_format);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => {
                // Installed before anything is bound: a SIGTERM from then on means "finish and
                // exit".
                let shutdown = gatehouse::server::shutdown_signal();
                gatehouse::server::serve(loaded.config, shutdown).await
            }
            Command::Migrate => {
                let prefix = loaded.config.redis_prefix.clone();
                let state = AppState::build(loaded.config, &prefix).await?;
                state.db.close().await;
                println!("migrations applied");
                Ok(())
            }
            Command::CheckConfig => {
                print!("{}", loaded.config.to_masked_toml());
                Ok(())
            }
            Command::Admin { command } => gatehouse::admin::cli::run(loaded.config, command).await,
            Command::Mail {
                command: MailCommand::Test { to },
            } => {
                let delivered = gatehouse::mail::send_test(&loaded.config, &to).await?;
                println!("{}", delivered.answer);
                Ok(())
            }
            Command::Import {
                command: ImportCommand::Ragflow { from, dry_run },
            } => gatehouse::compat::ragflow::import::run(loaded.config, &from, dry_run).await,
            Command::Backup { file, force } => {
                for line in gatehouse::ops::backup::run(&loaded.config, &file, force).await? {
                    println!("{line}");
                }
                Ok(())
            }
            Command::Restore { file, force } => {
                for line in gatehouse::ops::restore::run(&loaded.config, &file, force).await? {
                    println!("{line}");
                }
                Ok(())
            }
            Command::Doctor => {
                gatehouse::ops::doctor::report(
                    &loaded.config,
                    cli.config.as_deref(),
                    &loaded.warnings,
                )
                .await
            }
            Command::ConfigExample | Command::Completions { .. } | Command::Man => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

/// The commands that print something derived from the binary itself, needing no configuration.
fn without_config(command: &Command) -> Option<ExitCode> {
    let mut out = std::io::stdout();
    let written = match command {
        Command::ConfigExample => {
            use std::io::Write;
            out.write_all(gatehouse::ops::config_example::render().as_bytes())
        }
        Command::Completions { shell } => {
            use std::io::Write;
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "gatehouse", &mut script);
            out.write_all(&script)
        }
        Command::Man => clap_mangen::Man::new(Cli::command()).render(&mut out),
        _ => return None,
    };
    Some(match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    })
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("gatehouse: {e}");
    ExitCode::FAILURE
}

fn init_tracing(format: LogFormat) {
    gatehouse::logging::init(matches!(format, LogFormat::Json));
}
