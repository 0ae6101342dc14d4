//! WebSocket streams, typed: each text frame is one JSON item.

use std::marker::PhantomData;
use std::pin::Pin;

use futures_util::StreamExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::transport::Io;
use crate::{Error, FromEvent};

/// The name a WebSocket frame goes by when it becomes an item.
pub const FRAME: &str = "message";

/// A live WebSocket of `T` (`ServiceUpdate`, `Stats`, `JobUpdate`), until the daemon closes it.
pub struct Socket<T> {
    ws: WebSocketStream<Pin<Box<dyn Io>>>,
    item: PhantomData<fn() -> T>,
}

impl<T: FromEvent> Socket<T> {
    pub(crate) fn new(ws: WebSocketStream<Pin<Box<dyn Io>>>) -> Socket<T> {
        Socket { ws, item: PhantomData }
    }

    /// The next item, or `None` once the daemon closed the socket.
    pub async fn next(&mut self) -> Result<Option<T>, Error> {
        while let Some(msg) = self.ws.next().await {
            match msg.map_err(|e| Error::Broken(format!("the WebSocket broke off: {e}")))? {
                Message::Text(text) => {
                    if let Some(item) = T::from_event(FRAME, text.as_str())? {
                        return Ok(Some(item));
                    }
                }
                Message::Close(_) => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}
