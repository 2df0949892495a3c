//! `llm-router bootstrap` configs that Envoy accepts, mTLS on the xDS port, and `llm-router up`.

mod xds_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llm_router_e2e::{envoy_bin, filter_wasm, free_port, llm_router_bin, poll_until, Envoy, MockRegion, Req, TempDir};
use xds_common::{bootstrap, chat_body, deployment, wait_gateway, ControlPlane};

#[test]
fn every_bootstrap_variant_passes_envoy_validate() {
    let dir = TempDir::new("llm-xds-validate");
    make_certs(dir.path());
    let p = |f: &str| dir.path().join(f).display().to_string();
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    for extra in [
        &[][..],
        &["--delta"][..],
        &["--xds-tls-ca", &ca, "--xds-tls-cert", &cert, "--xds-tls-key", &key, "--xds-tls-server-name", "cp.internal"]
            [..],
    ] {
        let b = bootstrap("127.0.0.1:18000", 9901, "validate-me", extra);
        if let Err(out) = Envoy::validate_config(&b) {
            panic!("bootstrap {extra:?} rejected by envoy --mode validate:\n{out}\n---\n{b}");
        }
    }
    let named = bootstrap("control-plane.example:18000", 9901, "n", &[]);
    assert!(named.contains("STRICT_DNS"), "{named}");
    Envoy::validate_config(&named).unwrap_or_else(|e| panic!("{e}"));
    let bad = Command::new(llm_router_bin()).args(["bootstrap", "--xds-addr", "18000"]).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HOST:PORT"));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (needed to make test certificates)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for localhost/127.0.0.1, and a client certificate.
fn make_certs(dir: &Path) {
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        .expect("write");
    std::fs::write(dir.join("client.ext"), "subjectAltName=DNS:envoy\nextendedKeyUsage=clientAuth\n").expect("write");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ],
    );
    for who in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={who}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{who}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
            ],
        );
    }
}

/// What `openssl s_client` sees when it talks to the xDS port (with or without a client cert).
fn tls_probe(dir: &Path, port: u16, client_cert: bool) -> String {
    // -ign_eof: keep reading after the handshake, so a TLS 1.3 server's alert is seen; the
    // server closes the connection itself (after the alert, or at the HTTP/2 timeout).
    let mut cmd = Command::new("timeout");
    cmd.args([
        "5",
        "openssl",
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "localhost",
        "-CAfile",
        "ca.pem",
        "-alpn",
        "h2",
        "-ign_eof",
    ]);
    if client_cert {
        cmd.args(["-cert", "client.pem", "-key", "client.key"]);
    }
    let out = cmd.current_dir(dir).stdin(Stdio::null()).output().expect("run openssl s_client");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn an_mtls_control_plane_serves_envoys_with_a_client_certificate_and_refuses_others() {
    let us = MockRegion::start("us-west-2");
    let dir = TempDir::new("llm-xds-mtls");
    let d = dir.path();
    make_certs(d);
    let config = d.join("litellm.yaml");
    std::fs::write(&config, format!("model_list:\n{}", deployment("claude", &us, 1, ""))).expect("write");
    let port = free_port();
    let p = |f: &str| d.join(f).display().to_string();
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    let cp = ControlPlane::start(
        &config,
        &filter_wasm(),
        port,
        &["--xds-tls-cert", &cert, "--xds-tls-key", &key, "--xds-client-ca", &ca],
    );

    let admin = free_port();
    let (ccert, ckey) = (p("client.pem"), p("client.key"));
    let boot = bootstrap(
        &cp.xds_addr(),
        admin,
        "envoy-mtls",
        &["--xds-tls-ca", &ca, "--xds-tls-cert", &ccert, "--xds-tls-key", &ckey, "--xds-tls-server-name", "localhost"],
    );
    let _envoy = Envoy::start(&boot, admin);
    wait_gateway(port);
    let r = Req::post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&chat_body("claude"))
        .send()
        .expect("gateway");
    assert_eq!(r.status, 200, "{}", r.text());
    cp.wait_converged(1, "the mTLS Envoy ACKed the config");

    let without = tls_probe(d, cp.xds_port, false);
    assert!(
        without.to_lowercase().contains("certificate required") || without.contains("alert number 116"),
        "a client without a certificate is refused:\n{without}"
    );
    let with = tls_probe(d, cp.xds_port, true);
    assert!(with.contains("Verify return code: 0") && !with.to_lowercase().contains("certificate required"), "{with}");
    assert_eq!(cp.metric("llm_router_xds_connected_proxies"), 1.0, "only the Envoy with a certificate holds a stream");
}

#[test]
fn up_runs_the_control_plane_and_envoy_and_sigint_stops_both() {
    let us = MockRegion::start("us-west-2");
    let dir = TempDir::new("llm-up");
    let config = dir.path().join("litellm.yaml");
    std::fs::write(&config, format!("model_list:\n{}", deployment("claude", &us, 1, ""))).expect("write");
    let (port, admin, xds, metrics) = (free_port(), free_port(), free_port(), free_port());
    let log = dir.path().join("up.log");
    let mut child = Command::new(llm_router_bin())
        .arg("up")
        .arg("--config")
        .arg(&config)
        .arg("--filter-wasm")
        .arg(filter_wasm())
        .args(["--port", &port.to_string(), "--admin-port", &admin.to_string()])
        .args(["--xds-addr", &format!("127.0.0.1:{xds}"), "--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .env("ENVOY_BIN", envoy_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn llm-router up");
    let tail = || std::fs::read_to_string(&log).unwrap_or_default();
    poll_until(Duration::from_secs(30), "the gateway of `up` answers", || {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("llm-router up exited early ({s}):\n{}", tail());
        }
        let r = Req::post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .json(&chat_body("claude"))
            .timeout(Duration::from_secs(2))
            .send()
            .ok()?;
        (r.status == 200).then_some(())
    });
    let ready = Req::get(&format!("http://127.0.0.1:{metrics}/readyz")).send().expect("readyz");
    assert_eq!(ready.status, 200);

    // Ctrl-C.
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(sent.success());
    let t0 = Instant::now();
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("llm-router up did not stop within 20 s of SIGINT:\n{}", tail());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}:\n{}", tail());
    for (what, p) in [("Envoy admin", admin), ("gateway", port), ("metrics", metrics), ("xDS", xds)] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", p)).is_err(),
            "{what} port {p} still open after up stopped:\n{}",
            tail()
        );
    }
    assert!(tail().contains("Envoy stopped"), "{}", tail());
}
