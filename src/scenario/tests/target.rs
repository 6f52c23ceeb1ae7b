//! `target:`: URLs (ws and wss), TLS settings and files, headers and subprotocols.

use super::*;

#[test]
fn target_urls() {
    let url = |u: &str| {
        ok(&MINIMAL.replace("url: embedded", &format!("url: {u}")))
            .target
            .url
    };
    let ws = |host: &str, port, path: &str| {
        TargetUrl::Ws(WsUrl {
            host: host.into(),
            port,
            path: path.into(),
        })
    };
    assert_eq!(url("ws://localhost"), ws("localhost", 80, "/"));
    assert_eq!(url("ws://127.0.0.1:9001/ws"), ws("127.0.0.1", 9001, "/ws"));
    assert_eq!(url("ws://h:8080?a=1&b=2"), ws("h", 8080, "/?a=1&b=2"));
    assert_eq!(url("ws://h/chat?room=1"), ws("h", 80, "/chat?room=1"));
    assert_eq!(url("WS://[::1]:81/x"), ws("[::1]", 81, "/x"));
}

#[test]
fn wss_urls_default_to_port_443_and_tls_settings_reach_the_model() {
    let target = |t: &str| ok(&MINIMAL.replace("  url: embedded\n", t)).target;
    let plain = target("  url: wss://example.com/ws?x=1\n");
    assert_eq!(
        plain.url,
        TargetUrl::Wss(WsUrl {
            host: "example.com".into(),
            port: 443,
            path: "/ws?x=1".into(),
        })
    );
    assert_eq!(plain.tls, Some(TargetTls::default()));
    assert!(plain.tls.as_ref().is_some_and(|t| t.resume && !t.insecure));
    assert_eq!(target("  url: ws://h\n").tls, None);
    assert_eq!(target("  url: embedded\n  tls: false\n").tls, None);
    assert_eq!(
        target("  url: embedded\n  tls: true\n").tls,
        Some(TargetTls::default())
    );
    let set = target(
        "  url: wss://[::1]:8443/\n  tls: {insecure: true, resume: false, server_name: api.test}\n",
    );
    assert_eq!(
        set.tls,
        Some(TargetTls {
            ca_file: None,
            client_identity: None,
            server_name: Some("api.test".into()),
            insecure: true,
            resume: false,
        })
    );
    assert!(matches!(set.url, TargetUrl::Wss(WsUrl { port: 8443, .. })));
}

#[test]
fn proxy_faults_are_accepted_with_a_wss_target_and_a_tls_embedded_server() {
    for target in ["  url: wss://h\n", "  url: embedded\n  tls: true\n"] {
        let text = format!(
            "{}faults:\n  - {{kind: partition, at: 1s, duration: 1s}}\n",
            MINIMAL.replace("  url: embedded\n", target)
        );
        let scenario = ok(&text);
        assert!(scenario.target.tls.is_some());
        assert!(scenario.faults[0].kind.needs_proxy(), "{target}");
    }
}

#[test]
fn tls_files_are_read_at_validation_and_a_key_must_match_its_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let other = rcgen::generate_simple_self_signed(vec!["other".to_string()]).expect("rcgen");
    let cert = write("cert.pem", &made.cert.pem());
    let key = write("key.pem", &made.signing_key.serialize_pem());
    let other_key = write("other.pem", &other.signing_key.serialize_pem());
    let scenario = |tls: &str| {
        MINIMAL.replace(
            "  url: embedded\n",
            &format!("  url: wss://h\n  tls: {tls}\n"),
        )
    };

    let good = ok(&scenario(&format!(
        "{{ca_file: {cert}, client_cert: {cert}, client_key: {key}}}"
    )));
    let tls = good.target.tls.expect("tls");
    assert_eq!(tls.ca_file.as_deref(), Some(std::path::Path::new(&cert)));
    assert_eq!(
        tls.client_identity,
        Some(ClientIdentity {
            cert_file: cert.clone().into(),
            key_file: key.clone().into(),
        })
    );

    let message = |text: &str| match parse(text, "s.yaml") {
        Err(ScenarioError::Invalid { message, .. }) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    let mismatch = message(&scenario(&format!(
        "{{client_cert: {cert}, client_key: {other_key}}}"
    )));
    assert!(
        mismatch.starts_with("target.tls.client_key: ") && mismatch.contains("does not go with"),
        "{mismatch}"
    );
    let no_key = message(&scenario(&format!(
        "{{client_cert: {cert}, client_key: {cert}}}"
    )));
    assert!(
        no_key.starts_with("target.tls.client_key: ")
            && no_key.contains("holds no PEM private key"),
        "{no_key}"
    );
}

#[test]
fn headers_keep_file_order_and_subprotocols() {
    let s = ok(&MINIMAL.replace(
        "  url: embedded\n",
        "  url: ws://h:1/\n  headers:\n    X-Z: \"1\"\n    Authorization: Bearer x\n    \
         A-Header: v\n  subprotocols: [chat, v2.json]\n",
    ));
    assert_eq!(
        s.target.headers,
        vec![
            ("X-Z".to_string(), "1".to_string()),
            ("Authorization".to_string(), "Bearer x".to_string()),
            ("A-Header".to_string(), "v".to_string()),
        ]
    );
    assert_eq!(s.target.subprotocols, vec!["chat", "v2.json"]);
}

#[test]
fn the_embedded_server_takes_a_connection_limit() {
    let target = |t: &str| ok(&MINIMAL.replace("  url: embedded\n", t)).target;
    assert_eq!(target("  url: embedded\n").max_conns, None);
    assert_eq!(
        target("  url: embedded\n  max_conns: 250\n").max_conns,
        Some(250)
    );
}

#[test]
fn graphql_ws_offers_its_subprotocol_and_keeps_its_payloads_as_json_objects() {
    let target = |t: &str| ok(&MINIMAL.replace("  url: embedded\n", t)).target;
    assert_eq!(target("  url: ws://h\n").protocol, Protocol::Raw);
    assert_eq!(
        target("  url: ws://h\n  protocol: raw\n").protocol,
        Protocol::Raw
    );
    let bare = target("  url: ws://h\n  protocol: graphql-ws\n");
    assert_eq!(bare.protocol, Protocol::GraphqlWs(GraphqlWs::default()));
    assert_eq!(bare.subprotocols, vec![GRAPHQL_WS_SUBPROTOCOL]);
    let listed =
        target("  url: ws://h\n  protocol: graphql-ws\n  subprotocols: [graphql-transport-ws]\n");
    assert_eq!(
        listed.subprotocols,
        vec![GRAPHQL_WS_SUBPROTOCOL],
        "offered once"
    );

    let full = target(
        "  url: ws://h/graphql
  protocol: graphql-ws
  graphql_ws:
    init_payload: {token: abc, retries: 3, nested: {on: true}}
    subscribe:
      query: 'subscription($every: Int) { counter(every: $every) { seq sent_at } }'
      variables: {every: 10}
      operation_name: Counter
      id: sub-1
",
    );
    let Protocol::GraphqlWs(settings) = full.protocol else {
        panic!("graphql-ws expected")
    };
    let payload = settings.init_payload.expect("init_payload");
    assert_eq!(
        serde_json::Value::Object(payload),
        serde_json::json!({"token": "abc", "retries": 3, "nested": {"on": true}})
    );
    let subscribe = settings.subscribe.expect("subscribe");
    assert_eq!(subscribe.id, "sub-1");
    assert_eq!(
        subscribe.query,
        "subscription($every: Int) { counter(every: $every) { seq sent_at } }"
    );
    assert_eq!(
        subscribe.variables.map(serde_json::Value::Object),
        Some(serde_json::json!({"every": 10}))
    );
    assert_eq!(subscribe.operation_name.as_deref(), Some("Counter"));
    let default_id =
        target("  url: ws://h\n  protocol: graphql-ws\n  graphql_ws: {subscribe: {query: q}}\n");
    let Protocol::GraphqlWs(GraphqlWs {
        subscribe: Some(s), ..
    }) = default_id.protocol
    else {
        panic!("a subscription expected")
    };
    assert_eq!(
        (s.id.as_str(), s.variables, s.operation_name),
        ("1", None, None)
    );
}
