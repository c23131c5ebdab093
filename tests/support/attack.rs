//! Requests no well-behaved client would send, for the hardening tests and
//! the attack figures (`benches/hardening.rs`).

use oxmon::transport::grpc::proto::ReportResponse;
use prost::Message;
use tonic::Status;
use tonic::codec::{
    BufferSettings, Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder,
};
use tonic::codegen::http::uri::PathAndQuery;

/// Sends pre-encoded protobuf bytes as the request message, so a test can
/// send what no well-behaved client would build.
#[derive(Debug, Clone, Copy)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct ResponseDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ReportResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        prost::bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

impl Decoder for ResponseDecoder {
    type Item = ReportResponse;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<ReportResponse>, Status> {
        ReportResponse::decode(buf)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// One `ReportMetrics` call with a raw body, gzip-compressed by the client.
pub async fn send_raw(
    url: &str,
    body: Vec<u8>,
    agent_id: Option<&str>,
    token: Option<&str>,
) -> Result<ReportResponse, Status> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel).send_compressed(CompressionEncoding::Gzip);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(body);
    if let Some(id) = agent_id {
        request
            .metadata_mut()
            .insert("agent-id", id.parse().unwrap());
    }
    if let Some(t) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    grpc.unary(
        request,
        PathAndQuery::from_static("/oxmon.MetricService/ReportMetrics"),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A `MetricBatchProto` with an agent id of `id_len` bytes and `points`
/// empty points (two bytes each on the wire).
pub fn bomb(id_len: usize, points: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(id_len + 2 * points + 16);
    out.push(0x0a);
    varint(&mut out, id_len as u64);
    out.resize(out.len() + id_len, b'a');
    for _ in 0..points {
        out.extend_from_slice(&[0x1a, 0x00]);
    }
    out
}

/// A `server.toml` on loopback with the given ports, data in `dir/data`,
/// the first password `password`, certificate checks off, and `extra`
/// (top-level keys, then any tables) in between.
pub fn server_toml(
    dir: &std::path::Path,
    grpc: u16,
    http: u16,
    password: &str,
    extra: &str,
) -> std::path::PathBuf {
    let toml = dir.join("server.toml");
    std::fs::write(
        &toml,
        format!(
            "grpc_port = {grpc}\nhttp_port = {http}\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\ndata_dir = \"{}\"\n{extra}\n[auth]\ndefault_password = \"{password}\"\n\n[cert_check]\nenabled = false\n",
            dir.join("data").display()
        ),
    )
    .expect("server.toml");
    toml
}

/// Logs in as `admin` at `base` (`http://host:port`); the JWT.
pub async fn login(base: &str, password: &str) -> String {
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login request")
        .json()
        .await
        .expect("login answer");
    login["token"].as_str().expect("login token").to_owned()
}

/// Logs in and whitelists `agent`; its token.
pub async fn whitelist(base: &str, password: &str, agent: &str) -> String {
    let jwt = login(base, password).await;
    let added: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/agents/whitelist"))
        .bearer_auth(&jwt)
        .json(&serde_json::json!({"agent_id": agent}))
        .send()
        .await
        .expect("whitelist request")
        .json()
        .await
        .expect("whitelist answer");
    added["token"].as_str().expect("agent token").to_owned()
}
