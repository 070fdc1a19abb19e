//! The web console in a real browser, driven through WebDriver (Debian's `chromium-driver`
//! and headless `chromium`), against the real analyzer binary scraping two real
//! pulse-exporters and a dead port that trips a `TargetDown` rule.
//!
//! The test acts as an operator would: it reads the overview, watches a second alert arrive
//! while the page stays open (the second exporter is killed), pastes the write token and
//! clicks Acknowledge, creates a silence from an alert row, and downloads a report; after
//! each step the REST API must agree with what was clicked. Screenshots of each state land
//! in `target/tmp/console/` for a human to look at.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::{Driver, click, screenshot, text, try_text, until};
use support::{Process, analyzer, exporter_bin, free_port, get_json, wait_for};

const TOKEN: &str = "s3cret";

/// "12.3 %" → 12.3
fn percent(text: &str) -> f64 {
    text.strip_suffix(" %")
        .unwrap_or_else(|| panic!("{text:?} is not a percentage"))
        .parse()
        .unwrap()
}

fn alerts(analyzer: &Process, query: &str) -> Vec<Value> {
    let (status, body) = get_json(&analyzer.url(&format!("/api/v1/alerts?{query}")));
    assert_eq!(status, 200, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

/// The open TargetDown alert of `instance`, once there is one.
fn open_alert(analyzer: &Process, instance: &str) -> Option<Value> {
    alerts(analyzer, "state=firing,acknowledged")
        .into_iter()
        .find(|a| a["labels"]["instance"] == instance)
}

#[test]
fn operator_acts_through_the_console_in_chromium() {
    let driver = Driver::start();
    let local = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let mut web = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let dead_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let config = dir.path().join("analyzer.yml");
    // 1 s timeouts for the live exporters: on a loaded CI machine a slow scrape must not
    // raise an alert of its own and upset the counts below.
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{url: '{}', name: local, interval: 1s, timeout: 1s}}\n  \
             - {{url: '{}', name: web, interval: 1s, timeout: 1s}}\n  \
             - {{url: 'http://127.0.0.1:{dead_port}/metrics', name: dead, interval: 300ms, timeout: 200ms}}\n\
             web: {{write_token_file: '{}'}}\n\
             alerting:\n  default_rules: false\n  rules:\n    - name: TargetDown\n      metric: up\n      \
             op: below\n      levels: [{{severity: critical, fire: 1}}]\n      consecutive: 2\n      \
             summary: 'Scrape of {{{{instance}}}} fails'\n",
            local.url("/metrics"),
            web.url("/metrics"),
            dir.path().join("token").display(),
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let dead = wait_for(
        "the TargetDown alert of dead",
        Duration::from_secs(30),
        || open_alert(&analyzer, "dead"),
    );
    let dead_id = dead["id"].as_i64().unwrap();
    // A sparkline needs two of its 10 s buckets: wait for CPU samples of `local` in two.
    let cpu_url = analyzer.url("/api/v1/snapshot?metric=pulse:cpu_utilisation:ratio&target=local");
    let cpu_id = wait_for("a derived CPU sample", Duration::from_secs(30), || {
        get_json(&cpu_url).1["samples"][0]["id"].as_i64()
    });
    let history = analyzer.url(&format!(
        "/api/v1/series/{cpu_id}/history?start=-1h&step=10s"
    ));
    wait_for("two 10 s buckets of CPU", Duration::from_secs(30), || {
        let points = get_json(&history).1["points"]
            .as_array()
            .map_or(0, Vec::len);
        (points >= 2).then_some(())
    });
    assert!(open_alert(&analyzer, "web").is_none(), "web is up so far");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let client = runtime.block_on(driver.session(downloads.path(), &["--window-size=1280,1000"]));
    runtime.block_on(async {
        client.goto(&analyzer.url("/")).await.unwrap();

        // (a) Overview: figures of the real exporter's host, health and the open alert count.
        let cpu = until("the CPU figure", Duration::from_secs(15), async || {
            let t = try_text(&client, "#cpu-local").await?;
            t.ends_with(" %").then_some(t)
        })
        .await;
        assert!((0.0..=100.0).contains(&percent(&cpu)), "CPU {cpu}");
        let memory = percent(&text(&client, "#memory-local").await);
        assert!(memory > 0.0 && memory < 100.0, "memory used {memory}");
        assert!(
            text(&client, "#network-local").await.ends_with("/s"),
            "network figure"
        );
        assert_eq!(text(&client, "#health-status").await, "degraded");
        assert_eq!(text(&client, "#open-alerts").await, "1");
        assert_eq!(text(&client, "#open-critical").await, "critical 1");
        until("the CPU sparkline", Duration::from_secs(15), async || {
            client
                .find(Locator::Css("#hosts svg.spark path.line"))
                .await
                .ok()
        })
        .await;
        let row = text(&client, &format!("#alert-{dead_id}")).await;
        assert!(
            row.contains("TargetDown") && row.contains("Scrape of dead fails"),
            "{row}"
        );
        screenshot(&client, "overview.png").await;
    });

    // (b) With the page open, the `web` exporter dies: its alert must appear without reload.
    runtime.block_on(async {
        until("the live stream", Duration::from_secs(15), async || {
            let class = client
                .find(Locator::Id("live"))
                .await
                .ok()?
                .attr("class")
                .await
                .ok()??;
            class.contains("on").then_some(())
        })
        .await;
    });
    web.kill_9();
    let web_alert = wait_for(
        "the TargetDown alert of web",
        Duration::from_secs(30),
        || open_alert(&analyzer, "web"),
    );
    let web_id = web_alert["id"].as_i64().unwrap();
    let appeared = Instant::now();
    runtime.block_on(async {
        // Well under the page's 30 s fallback refresh: this is the event stream at work.
        until("the new alert row", Duration::from_secs(10), async || {
            client
                .find(Locator::Id(&format!("alert-{web_id}")))
                .await
                .ok()
        })
        .await;
        assert_eq!(text(&client, "#open-alerts").await, "2");
        screenshot(&client, "live-alert.png").await;
    });
    println!(
        "new alert shown {:?} after the API had it",
        appeared.elapsed()
    );

    // (c) Paste the token, click Acknowledge on the dead target's alert.
    runtime.block_on(async {
        client
            .find(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys(TOKEN)
            .await
            .unwrap();
        click(&client, "#token-form button[type=submit]").await;
        click(
            &client,
            &format!("#alert-{dead_id} button[data-action=acknowledge]"),
        )
        .await;
        until(
            "the acknowledged state in the row",
            Duration::from_secs(10),
            async || {
                let state = try_text(&client, &format!("#alert-{dead_id} td.state")).await?;
                (state == "acknowledged by console").then_some(())
            },
        )
        .await;
        screenshot(&client, "acknowledged.png").await;
    });
    let (_, one) = get_json(&analyzer.url(&format!("/api/v1/alerts/{dead_id}")));
    assert_eq!(one["alert"]["state"], "acknowledged", "{one}");
    assert_eq!(one["alert"]["acknowledged_by"], "console", "{one}");

    // (d) Silence the web alert from its row: the form is filled in, the row leaves the
    // default view, and the API lists the silence.
    runtime.block_on(async {
        click(
            &client,
            &format!("#alert-{web_id} button[data-action=silence]"),
        )
        .await;
        let matchers = client
            .find(Locator::Id("silence-matchers"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(matchers, "alertname=TargetDown, instance=web");
        client
            .find(Locator::Id("silence-comment"))
            .await
            .unwrap()
            .send_keys("web redeploy")
            .await
            .unwrap();
        click(&client, "#silence-form button[type=submit]").await;
        until(
            "the silenced alert to leave the view",
            Duration::from_secs(10),
            async || {
                let gone = client
                    .find(Locator::Id(&format!("alert-{web_id}")))
                    .await
                    .is_err();
                gone.then_some(())
            },
        )
        .await;
        assert!(
            text(&client, "#alerts-count")
                .await
                .contains("1 silenced hidden")
        );
        let silence_row = text(&client, "#silences-table tbody tr").await;
        assert!(
            silence_row.contains("instance=web") && silence_row.contains("active"),
            "{silence_row}"
        );
        client
            .execute(
                "document.getElementById('alerts').scrollIntoView()",
                Vec::new(),
            )
            .await
            .unwrap();
        screenshot(&client, "silenced.png").await;
    });
    let (_, silences) = get_json(&analyzer.url("/api/v1/silences"));
    let silence = &silences["silences"][0];
    assert_eq!(
        silence["matchers"],
        json!({"alertname": "TargetDown", "instance": "web"})
    );
    assert_eq!(silence["comment"], "web redeploy");
    assert_eq!(silence["active"], true);
    let (_, web_now) = get_json(&analyzer.url(&format!("/api/v1/alerts/{web_id}")));
    assert!(web_now["alert"]["silenced_by"].is_i64(), "{web_now}");

    // Filters and bulk acknowledge: "show silenced" brings the web alert back, its check box
    // and the one button acknowledge it; the history (resolved) view has nothing yet.
    runtime.block_on(async {
        click(&client, "#filter-silenced").await;
        until(
            "the silenced alert back in view",
            Duration::from_secs(10),
            async || {
                client
                    .find(Locator::Css(&format!(
                        "#alert-{web_id} input[type=checkbox]"
                    )))
                    .await
                    .ok()
            },
        )
        .await;
        click(&client, &format!("#alert-{web_id} input[type=checkbox]")).await;
        assert_eq!(
            text(&client, "#ack-selected").await,
            "Acknowledge selected (1)"
        );
        click(&client, "#ack-selected").await;
        until(
            "the bulk acknowledgement",
            Duration::from_secs(10),
            async || {
                let state = try_text(&client, &format!("#alert-{web_id} td.state")).await?;
                (state == "acknowledged by console (silenced)").then_some(())
            },
        )
        .await;
        client
            .find(Locator::Css("#filter-state option[value=resolved]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The history view: the open alerts leave it, and whatever rows remain are resolved
        // (a loaded machine can make `local` miss a scrape, so it need not be empty).
        until(
            "the open alerts to leave the history view",
            Duration::from_secs(10),
            async || {
                let open_gone = client
                    .find(Locator::Id(&format!("alert-{dead_id}")))
                    .await
                    .is_err();
                open_gone.then_some(())
            },
        )
        .await;
        // Read in one script call: a re-render between two WebDriver calls cannot split it.
        let rows = client
            .execute(
                "return [...document.querySelectorAll('#alerts-table tbody tr')]\
                 .map((r) => [r.className, r.textContent]);",
                Vec::new(),
            )
            .await
            .unwrap();
        for row in rows.as_array().unwrap() {
            assert!(
                row[0] == "state-resolved" || row[1] == "No alerts match.",
                "history row: {row}"
            );
        }
    });
    let (_, web_now) = get_json(&analyzer.url(&format!("/api/v1/alerts/{web_id}")));
    assert_eq!(web_now["alert"]["state"], "acknowledged", "{web_now}");

    // (e) Download the CSV report by clicking its link.
    runtime.block_on(async {
        click(&client, "#report-csv").await;
    });
    let csv = wait_for("the downloaded report", Duration::from_secs(30), || {
        let file = std::fs::read_dir(downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "csv"))?;
        std::fs::read_to_string(file).ok()
    });
    assert!(csv.contains("local"), "report names the host:\n{csv}");

    // Anomaly and forecast charts. The analyzer has run for seconds, too short for a real
    // event or forecast, so the page's own functions get an event and a forecast on the real
    // series of `local`; the charts must draw its history with the window / interval shaded.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let memory = get_json(
        &analyzer.url("/api/v1/snapshot?metric=pulse:memory_available:bytes&target=local"),
    )
    .1["samples"][0]["value"]
        .as_f64()
        .unwrap();
    let event = json!({
        "id": 1, "target": "local", "metric": "pulse:cpu_utilisation:ratio", "labels": {},
        "start_ms": now_ms - 8_000, "last_ms": now_ms - 4_000, "end_ms": null, "peak_score": 0.8,
        "correlations": [{"target": "local", "metric": "pulse:memory_available:ratio",
            "labels": {}, "r": 0.9, "points": 20,
            "hint": "pulse:cpu_utilisation:ratio on local correlates with pulse:memory_available:ratio on local, r=0.90"}],
    });
    let at = now_ms / 1000;
    let forecast = json!({
        "resource": "memory", "instance": "local", "series": "pulse:memory_available:bytes",
        "labels": {}, "current": memory, "limit": 0.0, "trend_per_second": memory / 7200.0,
        "at": at, "regime_start": at - 3600, "points": 10,
        "expected": at + 7200, "earliest": at + 3600, "latest": at + 14_400,
    });
    runtime.block_on(async {
        client
            .execute("showAnomaly(arguments[0])", vec![event])
            .await
            .unwrap();
        until(
            "the anomaly chart with its window shaded",
            Duration::from_secs(10),
            async || {
                let charts = client
                    .find_all(Locator::Css("#anomaly-detail figure.chart"))
                    .await
                    .ok()?;
                let shaded = client
                    .find(Locator::Css("#anomaly-detail svg rect.band"))
                    .await
                    .ok();
                (charts.len() == 2 && shaded.is_some()).then_some(())
            },
        )
        .await;
        let line = client
            .find(Locator::Css("#anomaly-detail svg path.line"))
            .await
            .unwrap()
            .attr("d")
            .await
            .unwrap()
            .unwrap();
        assert!(line.matches('L').count() >= 2, "a line of points: {line}");
        client
            .execute(
                "document.getElementById('anomaly-detail').scrollIntoView()",
                Vec::new(),
            )
            .await
            .unwrap();
        screenshot(&client, "anomaly.png").await;
        client
            .execute("showForecast(arguments[0])", vec![forecast])
            .await
            .unwrap();
        until(
            "the forecast chart with its interval",
            Duration::from_secs(10),
            async || {
                client
                    .find(Locator::Css("#forecast-detail svg path.interval"))
                    .await
                    .ok()
            },
        )
        .await;
        client
            .find(Locator::Css("#forecast-detail svg path.line.forecast"))
            .await
            .unwrap();
        client
            .execute(
                "document.getElementById('forecast-detail').scrollIntoView()",
                Vec::new(),
            )
            .await
            .unwrap();
        screenshot(&client, "forecast.png").await;
    });

    // The other screens, for a human to look at: phone width and the dark theme.
    runtime.block_on(async {
        client.set_window_size(390, 844).await.unwrap();
        client
            .execute("window.scrollTo(0, 0)", Vec::new())
            .await
            .unwrap();
        screenshot(&client, "phone.png").await;
        client.close().await.unwrap();
        let dark = driver
            .session(
                downloads.path(),
                &["--window-size=1280,1000", "--force-dark-mode"],
            )
            .await;
        dark.goto(&analyzer.url("/")).await.unwrap();
        until(
            "the dark page's figures",
            Duration::from_secs(15),
            async || {
                try_text(&dark, "#cpu-local")
                    .await?
                    .ends_with(" %")
                    .then_some(())
            },
        )
        .await;
        screenshot(&dark, "dark.png").await;
        dark.close().await.unwrap();
    });
}
