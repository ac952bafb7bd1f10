//! The `quire` command line.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use quire_core::ports::Random;
use quire_core::roles::{Role, Roles};
use quire_core::service::{ImportOptions, PasswordRule, Registration, SessionKind};

use crate::adapters::OsRandom;
use crate::app::{Application, ProcessRole, build_core, db_options, run_worker, shutdown_signal};
use crate::config::Config;
use crate::telemetry;

/// quire: the backend of a publishing platform.
#[derive(Debug, Parser)]
#[command(name = "quire", version, about)]
pub struct Cli {
    /// Configuration file (default: ./quire.toml when present).
    #[arg(long, global = true, env = "QUIRE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, and run the workers beside it unless `--role api` (the default).
    Serve(ServeArgs),
    /// Run the workers only (the event relay, the scheduler), for deployments that scale API
    /// instances and workers apart. Any number may run: one works at a time per job, the
    /// others stand by.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Work with databases.
    #[command(subcommand)]
    Db(DbCommand),
    /// Import posts from Markdown files with YAML, TOML or JSON frontmatter, as Astro, Hugo,
    /// Jekyll, Docusaurus, Gatsby and Eleventy keep them: files, or folders searched for
    /// `.md` and `.markdown` files. A post is matched by slug and language, so importing again
    /// updates it and never duplicates it. Prints a summary; exits 2 when a file failed.
    Import(ImportArgs),
    /// Export every post, drafts included, into a folder as `<slug>.md` with a YAML header,
    /// unknown frontmatter keys written back; `quire import` reads it back unchanged.
    Export {
        /// The folder to write into (made if missing).
        dir: PathBuf,
    },
    /// Work with the search index.
    #[command(subcommand)]
    Search(SearchCommand),
    /// Fill a new, empty database with realistic data for load tests: users `user1` to
    /// `userN` (`userN@example.com`, password `quiet harbour lantern at dawn`), tags with a
    /// long tail, posts in English, Korean and Japanese (one in twenty a draft), comments,
    /// favorites and follows; then render and index every post. The same sizes give the same
    /// data on either engine.
    Seed(SeedArgs),
    /// Manage the keys that sign access tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the GraphQL schema (SDL) that /graphql serves; the committed contract is
    /// crates/graphql/schema.graphql.
    GraphqlSchema,
    /// Ask the running server whether it is ready (GET /readyz on the configured address);
    /// exits 0 if so, 1 if not. For container health checks: the image needs no curl.
    Healthcheck,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many posts (users: one per 50 posts, at least 10; tags: one per 100, at least 20).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(i64).range(1..=100_000_000))]
    pub posts: i64,
    /// Leave the search index empty (`quire search reindex` builds it later).
    #[arg(long)]
    pub no_search: bool,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// `all`: the API and the workers; `api`: the API only.
    #[arg(long, value_enum, default_value = "all", env = "QUIRE_ROLE")]
    pub role: ProcessRole,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy everything from a SQLite database into an empty PostgreSQL database, keeping ids,
    /// slugs, password hashes and timestamps, in one transaction.
    Copy {
        /// The source, `sqlite://PATH`.
        #[arg(long)]
        from: String,
        /// The target, `postgres://...`; it must hold no users, posts, tags or comments.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Rebuild every post's entry in the search index from the post as it is (after a change
    /// to how text is analyzed, say). Safe while servers run: writes keep indexing their posts.
    Reindex,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key the one that signs access tokens (EdDSA), with no downtime: tokens
    /// signed with the old keys verify until they expire, then those keys retire. Every
    /// instance signs with the new key within QUIRE_JWT_KEYS_RELOAD_SECS; it is published at
    /// /.well-known/jwks.json at once.
    Rotate,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files or folders to import.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The author (a username) of posts whose `author` key names no user of this site.
    #[arg(long)]
    pub author: Option<String>,
    /// The language (BCP 47) of files that state none, like Hugo's `defaultContentLanguage`.
    #[arg(long)]
    pub language: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, for example the first admin. No password is ever shipped: read one from
    /// standard input with --password-stdin, or let quire generate and print one.
    Create(CreateUser),
    /// Clear the failed sign-ins and any lockout of an email, so its owner can sign in at
    /// once.
    Unlock {
        /// The email signed in with.
        email: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateUser {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    /// Roles to grant, comma-separated (reader, commenter, author, editor, admin).
    #[arg(long, value_delimiter = ',', default_value = "reader,commenter,author")]
    pub roles: Vec<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

impl Cli {
    /// Runs the chosen command with the process environment.
    pub async fn run(self) -> anyhow::Result<()> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let config = Config::load(self.config.as_deref(), &env)?;
        match self.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => {
                let telemetry = telemetry::init(&config.log, config.log.otlp_endpoint.as_deref());
                let app = Application::build_traced(config, telemetry.request_tracing(), args.role)
                    .await?;
                let served = app.run_until(shutdown_signal()).await;
                drop(telemetry);
                served
            }
            Command::Worker => {
                let telemetry = telemetry::init(&config.log, config.log.otlp_endpoint.as_deref());
                let worked = run_worker(config, shutdown_signal()).await;
                drop(telemetry);
                worked
            }
            Command::Migrate => {
                let _telemetry = telemetry::init(&config.log, None);
                let applied = quire_storage::Db::migrate(&db_options(&config)).await?;
                println!(
                    "database is at migration version {}",
                    applied.last().copied().unwrap_or(0)
                );
                Ok(())
            }
            Command::Config => {
                print!("{}", config.to_redacted_toml()?);
                Ok(())
            }
            Command::User(UserCommand::Create(args)) => create_user(config, args).await,
            Command::User(UserCommand::Unlock { email }) => unlock_user(config, &email).await,
            Command::Db(DbCommand::Copy { from, to }) => copy_database(&config, from, to).await,
            Command::Import(args) => {
                telemetry::init_for_command(&config.log);
                let options = ImportOptions {
                    author: args.author,
                    language: args.language,
                };
                let report = crate::transfer::import(&config, &args.paths, options).await?;
                print!("{}", crate::transfer::summary(&report));
                if report.failed().next().is_some() {
                    std::process::exit(2);
                }
                Ok(())
            }
            Command::Export { dir } => {
                telemetry::init_for_command(&config.log);
                let written = crate::transfer::export(&config, &dir).await?;
                println!("exported {written} posts to {}", dir.display());
                Ok(())
            }
            Command::Search(SearchCommand::Reindex) => {
                telemetry::init_for_command(&config.log);
                let indexed = crate::transfer::reindex(&config).await?;
                println!("indexed {indexed} posts");
                Ok(())
            }
            Command::Seed(args) => {
                telemetry::init_for_command(&config.log);
                let started = std::time::Instant::now();
                let seeded = crate::seed::seed(&config, args.posts, !args.no_search).await?;
                println!(
                    "seeded {} posts, {} users and {} tags; rendered {}, indexed {} ({:.1} s)",
                    seeded.size.posts,
                    seeded.size.users,
                    seeded.size.tags,
                    seeded.rendered,
                    seeded.indexed,
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            }
            Command::Keys(KeysCommand::Rotate) => rotate_keys(config).await,
            Command::Healthcheck => healthcheck(config.listen).await,
            Command::GraphqlSchema => {
                print!("{}", quire_graphql::sdl::<quire_storage::Db>());
                Ok(())
            }
        }
    }
}

async fn rotate_keys(config: Config) -> anyhow::Result<()> {
    let quire = build_core(&config).await?;
    let kid = quire
        .rotate_signing_key()
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    quire.store().close().await;
    println!("tokens are now signed with key {kid}");
    Ok(())
}

async fn unlock_user(config: Config, email: &str) -> anyhow::Result<()> {
    let quire = build_core(&config).await?;
    let cleared = quire
        .unlock_sign_in(None, email)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    quire.store().close().await;
    if cleared {
        println!("cleared the failed sign-ins of {email}");
    } else {
        println!("{email} had no failed sign-ins on record");
    }
    Ok(())
}

async fn create_user(config: Config, args: CreateUser) -> anyhow::Result<()> {
    let roles = args
        .roles
        .iter()
        .map(|name| {
            Role::parse(name.trim()).map_err(|message| anyhow::anyhow!("role {name:?} {message}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.password_stdin && std::io::stdin().is_terminal() {
        bail!(
            "--password-stdin reads from a pipe, e.g. `printf %s \"$PASSWORD\" | quire user create ...`"
        );
    }
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        (line.trim_end_matches(['\n', '\r']).to_owned(), false)
    } else {
        (OsRandom.token(24), true)
    };
    let quire = build_core(&config).await?;
    let registration = Registration {
        username: Some(args.username),
        email: Some(args.email),
        password: Some(password.clone()),
        password_rule: PasswordRule::Standard,
    };
    let user = quire
        .create_user(registration, Roles::of(&roles), SessionKind::LongLived)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?
        .user;
    quire.store().close().await;
    let names: Vec<&str> = user.roles.iter().map(Role::as_str).collect();
    println!(
        "created user {} (id {}) with roles {}",
        user.username,
        user.id,
        names.join(",")
    );
    if generated {
        println!("generated password (shown once): {password}");
    }
    Ok(())
}

/// Prints progress on a terminal as a bar redrawn in place; elsewhere, a line per table.
struct Progress {
    terminal: bool,
}

impl quire_storage::CopyProgress for Progress {
    fn table(&mut self, table: &str, rows: u64) {
        if !self.terminal {
            eprintln!("copying {table}: {rows} rows");
        }
    }

    fn copied(&mut self, table: &str, done: u64, rows: u64) {
        if self.terminal {
            let width = 30;
            let filled = usize::try_from(done.saturating_mul(width) / rows.max(1)).unwrap_or(0);
            let filled = filled.min(30);
            eprint!(
                "\r{table:<10} [{}{}] {done}/{rows}",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
            if done >= rows {
                eprintln!();
            }
        }
    }
}

async fn copy_database(config: &Config, from: String, to: String) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&config.log, None);
    let options = |url: String| quire_storage::DbOptions {
        url: Some(url),
        ..db_options(config)
    };
    let source = quire_storage::Db::open(&options(from))
        .await
        .map_err(|error| anyhow::anyhow!("opening the source: {error}"))?;
    let target = quire_storage::Db::open(&options(to))
        .await
        .map_err(|error| anyhow::anyhow!("opening the target: {error}"))?;
    let mut progress = Progress {
        terminal: std::io::stderr().is_terminal(),
    };
    let copied = quire_storage::copy_database(&source, &target, &mut progress)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    source.close().await;
    target.close().await;
    println!("copied {copied} rows");
    Ok(())
}

/// `GET /readyz` over plain HTTP/1.1 with a short timeout; a wildcard listen address is
/// asked on loopback.
async fn healthcheck(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request =
            format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        anyhow::Ok(reply)
    };
    let reply = tokio::time::timeout(std::time::Duration::from_secs(3), ask)
        .await
        .map_err(|_| anyhow::anyhow!("{address} did not answer within 3 s"))??;
    let status_line = String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if status_line.split_whitespace().nth(1) == Some("200") {
        println!("ready ({address})");
        Ok(())
    } else {
        bail!("not ready ({address}): {status_line}")
    }
}
