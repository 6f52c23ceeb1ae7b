//! `target.protocol: graphql-ws`: the error rows of its settings (`target.graphql_ws`), of the
//! subprotocols it allows and of what it rules out in `clients:`.

use super::errors::{Case, Says, case, exactly, replacing};

/// The error rows of `target.protocol`, `target.graphql_ws` and what graphql-ws refuses in
/// `clients:`.
pub(super) fn rows() -> Vec<Case> {
    let graphql = |extra: &str| {
        replacing(
            "  url: embedded\n",
            &format!("  url: ws://h\n  protocol: graphql-ws\n{extra}"),
        )
    };
    vec![
        case(
            replacing(
                "  url: embedded\n",
                "  url: ws://h\n  protocol: socket.io\n",
            ),
            (5, 13),
            exactly(
                "target.protocol: expected one of raw, graphql-ws, socketio, found \"socket.io\"",
            ),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: embedded\n  protocol: graphql-ws\n",
            ),
            (5, 13),
            Says::StartsWith("target.protocol: the embedded server does not speak graphql-ws"),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: ws://h\n  graphql_ws: {init_payload: {a: 1}}\n",
            ),
            (5, 15),
            exactly("target.graphql_ws: applies only with target.protocol: graphql-ws"),
        ),
        case(
            replacing(
                "  url: embedded\n",
                "  url: ws://h\n  protocol: socketio\n  graphql_ws: {init_payload: {a: 1}}\n",
            ),
            (6, 15),
            exactly("target.graphql_ws: applies only with target.protocol: graphql-ws"),
        ),
        case(
            graphql("  subprotocols: [graphql-transport-ws, chat]\n"),
            (6, 40),
            Says::StartsWith(
                "target.subprotocols[1]: a graphql-ws client offers graphql-transport-ws \
                 (added by itself) and no other subprotocol, found \"chat\"",
            ),
        ),
        case(
            graphql("  subprotocols: [graphql-ws]\n"),
            (6, 18),
            Says::Contains("the older subscriptions-transport-ws protocol"),
        ),
        case(
            graphql("  graphql_ws: {init_payload: token}\n"),
            (6, 30),
            exactly(
                "target.graphql_ws.init_payload: expected a mapping (sent as a JSON object), \
                 found a string",
            ),
        ),
        case(
            graphql("  graphql_ws: {init_payload: [1, 2]}\n"),
            (6, 30),
            Says::Contains("found a list"),
        ),
        case(
            graphql("  graphql_ws: {colour: red}\n"),
            (6, 16),
            exactly("unknown field `colour`, expected one of init_payload, subscribe"),
        ),
        case(
            graphql("  graphql_ws:\n    subscribe: {variables: {}}\n"),
            (7, 17),
            exactly("missing field `query`"),
        ),
        case(
            graphql("  graphql_ws:\n    subscribe: {query: \" \"}\n"),
            (7, 24),
            Says::StartsWith("target.graphql_ws.subscribe.query: expected a GraphQL document like"),
        ),
        case(
            graphql("  graphql_ws:\n    subscribe: {query: q, variables: 3}\n"),
            (7, 38),
            exactly(
                "target.graphql_ws.subscribe.variables: expected a mapping (sent as a JSON \
                 object), found a number",
            ),
        ),
        case(
            graphql("  graphql_ws:\n    subscribe: {query: q, id: \"\"}\n"),
            (7, 31),
            exactly(
                "target.graphql_ws.subscribe.id: expected a non-empty operation id, found \"\"",
            ),
        ),
        case(
            graphql("  graphql_ws:\n    subscribe: {query: q, operation_name: \"\"}\n"),
            (7, 43),
            Says::StartsWith("target.graphql_ws.subscribe.operation_name: expected the name"),
        ),
        case(
            format!("{}  heartbeat: {{mode: text}}\n", graphql("")),
            (5, 13),
            Says::StartsWith(
                "target.protocol: graphql-ws heartbeats are its own ping and pong messages",
            ),
        ),
        case(
            format!("{}  messages: {{rate: 1/s}}\n", graphql("")),
            (8, 20),
            Says::StartsWith("clients.messages: a graphql-ws client sends no bare messages"),
        ),
        case(
            format!("{}  on_open:\n    - text: hello\n", graphql("")),
            (9, 7),
            Says::StartsWith("clients.on_open: a graphql-ws client sends connection_init first"),
        ),
        case(
            format!("{}  stream: {{seq: /seq}}\n", graphql("")),
            (8, 11),
            Says::StartsWith("clients.stream: follows the next messages of the graphql-ws"),
        ),
        case(
            format!(
                "{}  stream: {{seq: \"bytes 0..8\"}}\n",
                graphql("  graphql_ws: {subscribe: {query: q}}\n")
            ),
            (9, 17),
            Says::StartsWith("clients.stream.seq: graphql-ws messages are JSON text"),
        ),
    ]
}
