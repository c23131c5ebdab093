//! A small SMTP sink on 127.0.0.1: EHLO, optional STARTTLS (rustls with an
//! rcgen certificate), AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT. Records each
//! accepted message and can be told to refuse.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub tls: bool,
    pub auth: bool,
}

/// How the sink answers `MAIL FROM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// 451: try again later.
    Transient,
    /// 550: refused.
    Permanent,
}

#[derive(Debug)]
struct State {
    mails: Vec<Mail>,
    mode: Mode,
}

/// The sink; its task stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Starts a sink; with an acceptor it offers STARTTLS.
    pub async fn start(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            mails: Vec::new(),
            mode: Mode::Accept,
        }));
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, tls) = (s.clone(), tls.clone());
                tokio::spawn(async move {
                    let mut io = BufReader::new(stream);
                    if io.get_mut().write_all(b"220 sink ESMTP\r\n").await.is_err() {
                        return;
                    }
                    let upgrade = session(&mut io, &s, tls.is_some(), false).await;
                    if let (true, Some(acceptor)) = (upgrade, tls)
                        && let Ok(t) = acceptor.accept(io.into_inner()).await
                    {
                        let mut io = BufReader::new(t);
                        session(&mut io, &s, false, true).await;
                    }
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }
}

/// Runs SMTP commands until QUIT or EOF (returns false) or STARTTLS (returns true).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    state: &Mutex<State>,
    offer_starttls: bool,
    tls: bool,
) -> bool {
    let mut from = String::new();
    let mut to = Vec::new();
    let mut auth = false;
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut r = String::from("250-sink\r\n");
            if offer_starttls {
                r.push_str("250-STARTTLS\r\n");
            }
            r.push_str("250 AUTH PLAIN LOGIN\r\n");
            r
        } else if upper == "STARTTLS" && offer_starttls {
            let _ = io.get_mut().write_all(b"220 go ahead\r\n").await;
            return true;
        } else if upper.starts_with("AUTH PLAIN") {
            auth = true;
            "235 ok\r\n".into()
        } else if upper.starts_with("AUTH LOGIN") {
            // Username and password prompts.
            for _ in 0..2 {
                let _ = io.get_mut().write_all(b"334 VXNlcm5hbWU6\r\n").await;
                line.clear();
                if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return false;
                }
            }
            auth = true;
            "235 ok\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            match state.lock().unwrap().mode {
                Mode::Accept => {
                    from = cmd[10..].trim().to_owned();
                    to.clear();
                    "250 ok\r\n".into()
                }
                Mode::Transient => "451 4.3.0 try again later\r\n".into(),
                Mode::Permanent => "550 5.7.1 refused\r\n".into(),
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().to_owned());
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            let _ = io.get_mut().write_all(b"354 end with .\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return false;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            state.lock().unwrap().mails.push(Mail {
                from: from.clone(),
                to: to.clone(),
                data,
                tls,
                auth,
            });
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = io.get_mut().write_all(b"221 bye\r\n").await;
            return false;
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 not implemented\r\n".into()
        };
        if io.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return false;
        }
    }
}
