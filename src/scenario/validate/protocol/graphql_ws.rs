//! `target.protocol: graphql-ws`: its settings (`target.graphql_ws`), the subprotocols it
//! allows, and what it rules out in `clients:`: a graphql-ws client speaks only graphql-ws
//! messages, so bare messages, `on_open` frames, text heartbeats and binary stream places do
//! not fit it.

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::ScenarioError;
use crate::scenario::model::{GRAPHQL_WS_SUBPROTOCOL, GraphqlSubscribe, GraphqlWs};
use crate::scenario::raw::{RawClients, RawGraphqlWs, RawHeartbeatMode, RawStream, RawSubscribe};
use crate::scenario::value::quoted;

/// The operation id of the subscription unless the scenario names one.
const DEFAULT_SUBSCRIBE_ID: &str = "1";

impl Validator<'_> {
    /// `target.graphql_ws`, and `subprotocols` as the file lists them: only graphql-ws's own
    /// may be among them (it is offered anyway).
    pub(super) fn graphql_ws(
        &self,
        settings: Option<Spanned<RawGraphqlWs>>,
        subprotocols: &[Spanned<String>],
    ) -> Result<GraphqlWs, ScenarioError> {
        for (i, p) in subprotocols.iter().enumerate() {
            if p.value == GRAPHQL_WS_SUBPROTOCOL {
                continue;
            }
            let legacy = if p.value == "graphql-ws" {
                " (graphql-ws is the subprotocol of the older subscriptions-transport-ws \
                 protocol, which is not spoken here)"
            } else {
                ""
            };
            return Err(self.error(
                p,
                &format!("target.subprotocols[{i}]"),
                format!(
                    "a graphql-ws client offers {GRAPHQL_WS_SUBPROTOCOL} (added by itself) and no \
                     other subprotocol, found {}{legacy}",
                    quoted(&p.value)
                ),
            ));
        }
        let Some(settings) = settings else {
            return Ok(GraphqlWs::default());
        };
        let settings = settings.value;
        let init_payload = settings
            .init_payload
            .map(|p| self.json_object(p, "target.graphql_ws.init_payload"))
            .transpose()?;
        let subscribe = settings
            .subscribe
            .map(|s| self.subscribe(s.value))
            .transpose()?;
        Ok(GraphqlWs {
            init_payload,
            subscribe,
        })
    }

    fn subscribe(&self, raw: RawSubscribe) -> Result<GraphqlSubscribe, ScenarioError> {
        if raw.query.value.trim().is_empty() {
            return Err(self.error(
                &raw.query,
                "target.graphql_ws.subscribe.query",
                format!(
                    "expected a GraphQL document like \"subscription {{ counter {{ seq }} }}\", \
                     found {}",
                    quoted(&raw.query.value)
                ),
            ));
        }
        let variables = raw
            .variables
            .map(|v| self.json_object(v, "target.graphql_ws.subscribe.variables"))
            .transpose()?;
        let operation_name = match raw.operation_name {
            Some(name) if name.value.trim().is_empty() => {
                return Err(self.error(
                    &name,
                    "target.graphql_ws.subscribe.operation_name",
                    "expected the name of an operation of the query, found \"\"",
                ));
            }
            name => name.map(|n| n.value),
        };
        let id = match raw.id {
            Some(id) if id.value.is_empty() => {
                return Err(self.error(
                    &id,
                    "target.graphql_ws.subscribe.id",
                    "expected a non-empty operation id, found \"\"",
                ));
            }
            Some(id) => id.value,
            None => DEFAULT_SUBSCRIBE_ID.to_string(),
        };
        Ok(GraphqlSubscribe {
            id,
            query: raw.query.value,
            variables,
            operation_name,
        })
    }

    /// A mapping written in YAML, as the JSON object it is sent as.
    fn json_object(
        &self,
        value: Spanned<serde_json::Value>,
        path: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ScenarioError> {
        let found = match value.value {
            serde_json::Value::Object(map) => return Ok(map),
            serde_json::Value::Null => "nothing (null)",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "a list",
        };
        Err(self.error_at(
            &value.referenced,
            path,
            format!("expected a mapping (sent as a JSON object), found {found}"),
        ))
    }

    /// What a graphql-ws client cannot do: send bare messages or `on_open` frames (a graphql-ws
    /// server closes the socket with 4400 on anything but its own messages), text heartbeats
    /// (its heartbeats are its ping and pong messages), or follow a stream without a
    /// subscription or in binary frames. `protocol_at` is where `target.protocol` is written.
    pub(super) fn graphql_ws_fits_clients(
        &self,
        graphql_ws: &GraphqlWs,
        protocol_at: &Location,
        clients: &RawClients,
        stream: Option<&Spanned<RawStream>>,
    ) -> Result<(), ScenarioError> {
        if clients.heartbeat.as_ref().and_then(|h| h.value.mode) == Some(RawHeartbeatMode::Text) {
            return Err(self.error_at(
                protocol_at,
                "target.protocol",
                "graphql-ws heartbeats are its own ping and pong messages, so \
                 clients.heartbeat.mode: text does not apply (use ping, the default, or none)",
            ));
        }
        if let Some(messages) = &clients.messages {
            return Err(self.error(
                &messages.rate,
                "clients.messages",
                "a graphql-ws client sends no bare messages (a graphql-ws server closes the \
                 socket with 4400 on them); follow server-pushed traffic with \
                 target.graphql_ws.subscribe and clients.stream instead",
            ));
        }
        if let Some(first) = clients.on_open.first() {
            return Err(self.error(
                first,
                "clients.on_open",
                "a graphql-ws client sends connection_init first (a graphql-ws server closes the \
                 socket with 4400 on other frames); put credentials in \
                 target.graphql_ws.init_payload instead",
            ));
        }
        let Some(stream) = stream else {
            return Ok(());
        };
        if graphql_ws.subscribe.is_none() {
            return Err(self.error(
                stream,
                "clients.stream",
                "follows the next messages of the graphql-ws subscription: add \
                 target.graphql_ws.subscribe",
            ));
        }
        let places = [Some(&stream.value.seq), stream.value.sent_at.as_ref()];
        for (key, place) in ["seq", "sent_at"].into_iter().zip(places) {
            if let Some(place) = place
                && place.value.trim().starts_with("bytes")
            {
                return Err(self.error(
                    place,
                    &format!("clients.stream.{key}"),
                    format!(
                        "graphql-ws messages are JSON text: expected a field of the \
                         subscription's result like /{key}, found {}",
                        quoted(&place.value)
                    ),
                ));
            }
        }
        Ok(())
    }
}
