//! Events on real brokers, read by plain clients of each broker (not quire's own consumer):
//! NATS JetStream (`QUIRE_TEST_NATS_URL`) and RabbitMQ (`QUIRE_TEST_AMQP_URL`). The broker is
//! cut through a TCP proxy in the middle of a thousand writes, and quire is killed with
//! `kill -9` in the middle of a stream of writes: every write is answered, and every event
//! arrives, in order per aggregate.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::{SinkExt, StreamExt};
use quire_core::events::Event;
use serde_json::json;

use crate::helpers::{Engine, TestApp, TestEnv};
use crate::proxy::Proxy;

fn nats_url() -> String {
    std::env::var("QUIRE_TEST_NATS_URL").expect("QUIRE_TEST_NATS_URL names the NATS server")
}

fn amqp_url() -> String {
    std::env::var("QUIRE_TEST_AMQP_URL").expect("QUIRE_TEST_AMQP_URL names the RabbitMQ server")
}

/// `host:port` of a `scheme://[user@]host:port[/…]` URL.
fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap();
    let rest = rest.rsplit('@').next().unwrap();
    rest.split('/').next().unwrap().to_owned()
}

/// The same URL, pointed at `proxy` instead.
fn through(url: &str, proxy: &Proxy) -> String {
    url.replacen(&host_port(url), &proxy.address.to_string(), 1)
}

/// One event row of an outbox: its seq, id, type and aggregate (`type/id`).
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) subject: String,
}

/// Every event in the outbox of the database at `url`, in seq order.
pub(crate) async fn outbox(url: &str) -> Vec<Recorded> {
    use sqlx::Connection;
    const SQL: &str = "SELECT seq, id, type, aggregate_type, aggregate_id FROM outbox ORDER BY seq";
    let rows: Vec<(i64, String, String, String, i64)> = if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(SQL)
            .fetch_all(&mut connection)
            .await
            .unwrap()
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(SQL)
            .fetch_all(&mut connection)
            .await
            .unwrap()
    };
    rows.into_iter()
        .map(|(seq, id, kind, aggregate, aggregate_id)| Recorded {
            seq,
            id,
            kind,
            subject: format!("{aggregate}/{aggregate_id}"),
        })
        .collect()
}

/// Waits until the outbox holds nothing unsent (the relay caught up), for at most `wait`.
async fn relayed(app: &TestApp, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while app.quire.outbox_backlog().await.unwrap().pending > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads events until every id of `expected` has arrived (or `wait` passes); checks that the
/// events of each aggregate came in the order they were recorded, and answers how many
/// arrived more than once.
async fn assert_all_arrive(
    mut heard: impl futures::Stream<Item = Event> + Unpin,
    expected: &[Recorded],
    wait: Duration,
) -> usize {
    let wanted: HashSet<&str> = expected.iter().map(|row| row.id.as_str()).collect();
    let mut seen = HashSet::new();
    let mut repeats = 0;
    let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    while seen.len() < wanted.len() {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, heard.next()).await else {
            panic!(
                "{} of {} events arrived; missing e.g. {:?}",
                seen.len(),
                wanted.len(),
                expected.iter().find(|row| !seen.contains(&row.id))
            );
        };
        let id = event.id.to_string();
        if !wanted.contains(id.as_str()) {
            continue;
        }
        if !seen.insert(id.clone()) {
            repeats += 1;
            continue;
        }
        order.entry(event.subject()).or_default().push(id);
    }
    for (subject, arrived) in order {
        let recorded: Vec<String> = expected
            .iter()
            .filter(|row| row.subject == subject)
            .map(|row| row.id.clone())
            .collect();
        assert_eq!(
            arrived, recorded,
            "the events of {subject} arrived out of order"
        );
    }
    repeats
}

/// A plain JetStream reader of every event published from now on.
async fn jetstream_reader() -> impl futures::Stream<Item = Event> + Unpin {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let jetstream = jetstream::new(client);
    // The stream is quire's to create; it exists once quire published anything.
    let stream = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Ok(stream) = jetstream.get_stream("QUIRE_EVENTS").await {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("quire creates the stream QUIRE_EVENTS");
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "quire.events.>".to_owned(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..consumer::pull::OrderedConfig::default()
        })
        .await
        .unwrap();
    let messages = reader.messages().await.unwrap();
    Box::pin(messages.filter_map(|message| async move {
        let message = message.ok()?;
        let event = Event::from_json(&message.payload);
        assert!(
            event.is_ok(),
            "a message that is not a quire event: {message:?}"
        );
        event.ok()
    }))
}

/// A plain RabbitMQ reader of every event published from now on: a queue of its own bound to
/// the exchange with `#`.
async fn rabbitmq_reader() -> impl futures::Stream<Item = Event> + Unpin {
    use lapin::options::{
        BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    };
    use lapin::types::FieldTable;
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .exchange_declare(
            "quire.events".into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().clone(),
            "quire.events".into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let consumer = channel
        .basic_consume(
            queue.name().clone(),
            "test-reader".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    // The connection lives as long as the stream.
    Box::pin(consumer.filter_map(move |delivery| {
        let _keep = &connection;
        async move {
            let delivery = delivery.ok()?;
            let persistent = delivery.properties.delivery_mode() == &Some(2);
            assert!(persistent, "events are persistent messages");
            Event::from_json(&delivery.data).ok()
        }
    }))
}

/// A post by a fresh author, and a token to comment with.
async fn post_to_comment_on(app: &TestApp) -> (String, String) {
    let author = app.register("broadcaster").await;
    let article = app.create_article(&author, "Broadcast", &[]).await;
    (article["slug"].as_str().unwrap().to_owned(), author.token)
}

/// Posts `count` comments, 16 at a time, calling `midway` after the first third; every one
/// must be answered 201.
async fn comment_many<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    slug: &str,
    token: &str,
    count: usize,
    midway: impl FnOnce() -> F,
) {
    let mut midway = Some(midway);
    let path = format!("/api/articles/{slug}/comments");
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(16);
        let writes = (0..batch).map(|n| {
            app.post(
                &path,
                Some(token),
                json!({"comment": {"body": format!("comment {}", done + n)}}),
            )
        });
        for reply in futures::future::join_all(writes).await {
            assert_eq!(
                reply.status, 201,
                "every write is answered while the broker is away: {}",
                reply.body
            );
        }
        // A change of one aggregate between the comments: its events must keep their order.
        let changed = app
            .put(
                &format!("/api/articles/{slug}"),
                Some(token),
                json!({"article": {"body": format!("revision {done}")}}),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        done += batch;
        if done >= count / 3
            && let Some(midway) = midway.take()
        {
            midway().await;
        }
    }
}

/// The broker is cut through a proxy during 1,000 writes and restored afterwards; every
/// event arrives, in order per aggregate, and none twice after de-duplication by id.
async fn a_broker_outage_loses_no_event(engine: Engine, broker: &str) {
    let upstream = if broker == "nats" {
        nats_url()
    } else {
        amqp_url()
    };
    let proxy = Proxy::start(&host_port(&upstream)).await;
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    // A thousand writes from one address: the broker's outage is tested, not the limits.
    config.limits.rate_limits = false;
    if broker == "nats" {
        config.events.nats_url = Some(quire_server::config::Secret::new(through(
            &upstream, &proxy,
        )));
    } else {
        config.events.amqp_url = Some(quire_server::config::Secret::new(through(
            &upstream, &proxy,
        )));
    }
    let database = env.database_url();
    let app = TestApp::spawn_with(config, env).await;
    let (slug, token) = post_to_comment_on(&app).await;
    relayed(&app, Duration::from_secs(15)).await;
    let heard = if broker == "nats" {
        Box::pin(jetstream_reader().await)
            as std::pin::Pin<Box<dyn futures::Stream<Item = Event> + Send>>
    } else {
        Box::pin(rabbitmq_reader().await)
    };
    let before = outbox(&database).await.last().map_or(0, |row| row.seq);

    comment_many(&app, &slug, &token, 1_000, || async { proxy.cut() }).await;
    let pending = app.quire.outbox_backlog().await.unwrap().pending;
    assert!(
        pending > 0,
        "with the broker away, events wait in the outbox"
    );
    proxy.restore().await;

    let expected: Vec<Recorded> = outbox(&database)
        .await
        .into_iter()
        .filter(|row| row.seq > before)
        .collect();
    assert_eq!(
        expected
            .iter()
            .filter(|row| row.kind == "comment.added")
            .count(),
        1_000
    );
    let repeats = assert_all_arrive(heard, &expected, Duration::from_secs(90)).await;
    eprintln!(
        "{broker}: {} events arrived after the outage, {repeats} repeats (dropped by id)",
        expected.len()
    );
    relayed(&app, Duration::from_secs(15)).await;
}

#[tokio::test]
#[cfg_attr(not(quire_test_nats), ignore = "QUIRE_TEST_NATS_URL is not set")]
async fn a_nats_outage_during_a_thousand_writes_loses_no_event() {
    a_broker_outage_loses_no_event(Engine::Sqlite, "nats").await;
}

#[tokio::test]
#[cfg_attr(not(quire_test_amqp), ignore = "QUIRE_TEST_AMQP_URL is not set")]
async fn a_rabbitmq_outage_during_a_thousand_writes_loses_no_event() {
    a_broker_outage_loses_no_event(Engine::Sqlite, "amqp").await;
}

/// Creating, publishing and commenting put the documented events on JetStream, one subject
/// per type, in order per aggregate.
#[tokio::test]
#[cfg_attr(not(quire_test_nats), ignore = "QUIRE_TEST_NATS_URL is not set")]
async fn jetstream_carries_the_events_of_creating_publishing_and_commenting() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.events.nats_url = Some(quire_server::config::Secret::new(nats_url()));
    let database = env.database_url();
    let app = TestApp::spawn_with(config, env).await;
    let author = app.register("jetstreamer").await;
    relayed(&app, Duration::from_secs(15)).await;
    let client = async_nats::connect(nats_url()).await.unwrap();
    // A plain subscription per subject the issue names, besides the JetStream reader.
    let mut published = client
        .subscribe("quire.events.post.published")
        .await
        .unwrap();
    let heard = jetstream_reader().await;
    let before = outbox(&database).await.last().map_or(0, |row| row.seq);

    let draft = app.create_draft(&author, "Streamed").await;
    app.set_status(&author, draft["postId"].as_i64().unwrap(), "published")
        .await;
    // Published, the draft takes its plain slug.
    app.post(
        "/api/articles/streamed/comments",
        Some(&author.token),
        json!({"comment": {"body": "first"}}),
    )
    .await;
    relayed(&app, Duration::from_secs(15)).await;

    let expected: Vec<Recorded> = outbox(&database)
        .await
        .into_iter()
        .filter(|row| row.seq > before)
        .collect();
    let kinds: Vec<&str> = expected.iter().map(|row| row.kind.as_str()).collect();
    assert_eq!(kinds, ["post.created", "post.published", "comment.added"]);
    assert_eq!(
        assert_all_arrive(heard, &expected, Duration::from_secs(15)).await,
        0
    );
    let message = tokio::time::timeout(Duration::from_secs(5), published.next())
        .await
        .unwrap()
        .unwrap();
    let event = Event::from_json(&message.payload).unwrap();
    assert_eq!(event.id.to_string(), expected[1].id);
    assert_eq!(
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("Nats-Msg-Id"))
            .map(|id| id.as_str().to_owned()),
        Some(expected[1].id.clone()),
        "the message id is the event id, so the server drops a repeat"
    );
}

/// `kill -9` in the middle of a stream of writes: after a restart, the event of every
/// committed write (every acknowledged one among them) arrives.
#[tokio::test]
#[cfg_attr(not(quire_test_nats), ignore = "QUIRE_TEST_NATS_URL is not set")]
async fn events_of_acknowledged_writes_arrive_after_kill_9() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let database = env.database_url();
    let nats = nats_url();
    let overrides = [("QUIRE_NATS_URL", nats.as_str())];
    let (mut server, address, _) = crate::durability::start_with(&env, &overrides).await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let first = client
        .post(format!("{base}/api/users"))
        .json(&json!({"user": {"username": "killed", "email": "killed@example.com", "password": "password123"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let heard = jetstream_reader().await;
    let before = outbox(&database).await.last().map_or(0, |row| row.seq);
    // Writes stream in until the process is killed under them.
    let writer = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let mut acknowledged = 0;
            for n in 0.. {
                let sent = client
                    .post(format!("{base}/api/users"))
                    .json(&json!({"user": {"username": format!("reader{n}"), "email": format!("reader{n}@example.com"), "password": "password123"}}))
                    .send()
                    .await;
                match sent {
                    Ok(reply) if reply.status() == 201 => acknowledged += 1,
                    _ => break,
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let acknowledged = writer.await.unwrap();
    assert!(
        acknowledged > 0,
        "some writes were acknowledged before the kill"
    );

    let (mut restarted, _, _) = crate::durability::start_with(&env, &overrides).await;
    let expected: Vec<Recorded> = outbox(&database)
        .await
        .into_iter()
        .filter(|row| row.seq > before)
        .collect();
    assert!(
        expected
            .iter()
            .filter(|row| row.kind == "user.registered")
            .count()
            >= acknowledged
    );
    assert_all_arrive(heard, &expected, Duration::from_secs(30)).await;
    restarted.start_kill().unwrap();
}

/// Two instances on one PostgreSQL database and one NATS: a GraphQL subscription on B hears,
/// within a second, a comment posted through A's `/api`.
#[tokio::test]
#[cfg_attr(
    not(all(quire_test_nats, quire_test_postgres)),
    ignore = "QUIRE_TEST_NATS_URL or QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn a_subscription_on_one_instance_hears_a_comment_posted_through_another() {
    use tokio_tungstenite::tungstenite::Message;
    let env = TestEnv::new(Engine::Postgres).await;
    let mut config = env.config();
    config.events.nats_url = Some(quire_server::config::Secret::new(nats_url()));
    // B shares A's configuration (its database, its signing key), as behind a load balancer.
    let b_env = TestEnv {
        data: tempfile::tempdir().unwrap(),
        postgres: None,
    };
    let a = TestApp::spawn_with(config.clone(), env).await;
    let b = TestApp::spawn_with(config, b_env).await;
    let author = a.register("speaker").await;
    let listener = b.register("listener").await;
    let article = a.create_article(&author, "Across", &[]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let post = a
        .quire
        .post(quire_core::service::PostAddress::Slug(&slug), None)
        .await
        .unwrap();

    let (mut socket, _) = b.graphql_socket().await;
    let send = |value: serde_json::Value| Message::text(value.to_string());
    socket
        .send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", listener.token)}})))
        .await
        .unwrap();
    socket.next().await.unwrap().unwrap();
    socket
        .send(send(json!({"id": "c", "type": "subscribe", "payload": {
            "query": "subscription($p: ID!) { commentAdded(postId: $p) { body } }",
            "variables": {"p": post.id.get().to_string()},
        }})))
        .await
        .unwrap();
    // The protocol does not say when a subscription listens: write until one is heard, each
    // write timed on its own.
    for attempt in 0..20 {
        let body = format!("across {attempt}");
        let started = tokio::time::Instant::now();
        let posted = a
            .post(
                &format!("/api/articles/{slug}/comments"),
                Some(&author.token),
                json!({"comment": {"body": body}}),
            )
            .await;
        assert_eq!(posted.status, 201);
        let deadline = started + Duration::from_secs(1);
        while let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout_at(deadline, socket.next()).await
        {
            let message: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            if message["payload"]["data"]["commentAdded"]["body"] == body.as_str() {
                eprintln!(
                    "heard on B {:?} after the write through A began",
                    started.elapsed()
                );
                return;
            }
        }
    }
    panic!("B's subscription heard none of 20 comments posted through A within a second");
}

/// The address of a running server's admin listener, from its log.
fn admin_address(log: &crate::durability::Log) -> String {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["message"] == "listening")
        .and_then(|entry| entry["admin_address"].as_str().map(str::to_owned))
        .expect("the server logs its admin address")
}

/// Whether the server whose admin listener is at `admin` holds the relay lease, by its
/// `quire_relay_leader` gauge (`None` before it reports).
async fn leads(client: &reqwest::Client, admin: &str) -> Option<bool> {
    let text = client
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("quire_relay_leader "))
        .map(|value| value.trim() == "1")
}

/// Two processes on one database: exactly one relays; `kill -9` it, and the other publishes
/// within ten seconds.
#[tokio::test]
#[cfg_attr(
    not(all(quire_test_nats, quire_test_postgres)),
    ignore = "QUIRE_TEST_NATS_URL or QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn one_relay_publishes_and_a_standby_takes_over_within_ten_seconds() {
    let env = TestEnv::new(Engine::Postgres).await;
    let nats = nats_url();
    let overrides = [
        ("QUIRE_NATS_URL", nats.as_str()),
        ("QUIRE_ADMIN_LISTEN", "127.0.0.1:0"),
    ];
    let (first, first_address, first_log) = crate::durability::start_with(&env, &overrides).await;
    let (second, second_address, second_log) =
        crate::durability::start_with(&env, &overrides).await;
    let client = reqwest::Client::new();
    let admins = [admin_address(&first_log), admin_address(&second_log)];
    // Both report; exactly one leads.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let leader = loop {
        let states = [
            leads(&client, &admins[0]).await,
            leads(&client, &admins[1]).await,
        ];
        match states {
            [Some(true), Some(false)] => break 0,
            [Some(false), Some(true)] => break 1,
            [Some(true), Some(true)] => panic!("two relays publish at once"),
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no relay leads: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (mut dead, survivor) = if leader == 0 {
        (first, (second, second_address))
    } else {
        (second, (first, first_address))
    };
    let (mut survivor, survivor_address) = survivor;
    let heard = jetstream_reader().await;
    dead.start_kill().unwrap();
    dead.wait().await.unwrap();
    let killed = tokio::time::Instant::now();

    let base = format!("http://{survivor_address}");
    let registered = client
        .post(format!("{base}/api/users"))
        .json(&json!({"user": {"username": "afterwards", "email": "afterwards@example.com", "password": "password123"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let expected: Vec<Recorded> = outbox(&env.database_url())
        .await
        .into_iter()
        .filter(|row| row.kind == "user.registered")
        .collect();
    let last = expected.last().cloned().unwrap();
    assert_all_arrive(heard, std::slice::from_ref(&last), Duration::from_secs(10)).await;
    let took = killed.elapsed();
    eprintln!("the standby published {took:?} after the active relay was killed");
    assert!(took < Duration::from_secs(10), "the standby took {took:?}");
    survivor.start_kill().unwrap();
}
