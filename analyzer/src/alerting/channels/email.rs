//! Email over SMTP with lettre: plain, STARTTLS or implicit TLS (rustls), optional
//! authentication, several recipients, and a text + HTML `multipart/alternative` body.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{BuildError, SendError};
use crate::alerting::config::{EmailConfig, SmtpSecurity};
use crate::alerting::message::Message;
use crate::schedule::mail::ReportMail;

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    pub fn new(name: &str, config: &EmailConfig, timeout: Duration) -> Result<Self, BuildError> {
        let invalid = |field: &'static str, message: String| BuildError::Invalid {
            channel: name.to_owned(),
            field,
            message,
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| invalid("email.from", format!("{:?}: {e}", config.from)))?;
        if config.to.is_empty() {
            return Err(invalid("email.to", "at least one recipient".into()));
        }
        let to = config
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| invalid("email.to", format!("{t:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tls = || -> Result<TlsParameters, BuildError> {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| invalid("email.ca_file", format!("{}: {e}", path.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| invalid("email.ca_file", format!("{}: {e}", path.display())))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| invalid("email.security", e.to_string()))
        };
        let (tls, default_port) = match config.security {
            SmtpSecurity::None => (Tls::None, 25),
            SmtpSecurity::Starttls => (Tls::Required(tls()?), 587),
            SmtpSecurity::Tls => (Tls::Wrapper(tls()?), 465),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(username) = &config.username {
            let password = match &config.password {
                Some(secret) => secret.load().map_err(|error| BuildError::Secret {
                    channel: name.to_owned(),
                    field: "email.password",
                    error,
                })?,
                None => return Err(invalid("email.password", "required with username".into())),
            };
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
        })
    }

    fn builder(&self, subject: String) -> lettre::message::MessageBuilder {
        let mut mail = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject);
        for to in &self.to {
            mail = mail.to(to.clone());
        }
        mail
    }

    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let mail = self
            .builder(message.title())
            .multipart(MultiPart::alternative_plain_html(
                message.text(),
                message.html(),
            ))
            .map_err(|e| SendError::Render(e.to_string()))?;
        self.submit(mail).await
    }

    /// The summary as the text body, the rendered report as an attachment
    /// (`multipart/mixed`).
    pub async fn send_report(&self, report: &ReportMail) -> Result<(), SendError> {
        let file = &report.attachment;
        let content_type = ContentType::parse(file.content_type)
            .map_err(|e| SendError::Render(format!("{}: {e}", file.content_type)))?;
        // Base64 whatever the type: a rendered report may have bare LF line ends or lines
        // longer than SMTP's 998-octet limit, which a 7bit part would send as they are.
        let body = Body::new_with_encoding(file.bytes.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| SendError::Render("base64 encoding the attachment".into()))?;
        let mail = self
            .builder(report.title.clone())
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(report.text.clone()))
                    .singlepart(Attachment::new(file.filename.clone()).body(body, content_type)),
            )
            .map_err(|e| SendError::Render(e.to_string()))?;
        self.submit(mail).await
    }

    async fn submit(&self, mail: lettre::Message) -> Result<(), SendError> {
        self.transport
            .send(mail)
            .await
            .map(|_| ())
            .map_err(|e| SendError::Smtp {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }
}
