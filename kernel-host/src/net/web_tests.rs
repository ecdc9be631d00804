//! Tests of the web service: URLs, and whole exchanges between a guest TCP/IP stack (a
//! second smoltcp interface) and the gateway, frame by frame.

use super::*;
use crate::net::test_lan::{Lan, SITE};

#[test]
fn the_site_name_and_the_gateway_are_the_page_origin() {
    assert_eq!(
        url_for(SITE, Some("alpenglow.host"), "/dist/manifest.json").as_deref(),
        Some("http://site.test:8080/dist/manifest.json")
    );
    assert_eq!(
        url_for(SITE, Some("ALPENGLOW.host.:80"), "/?q=1").as_deref(),
        Some("http://site.test:8080/?q=1")
    );
    assert_eq!(
        url_for(SITE, Some("10.0.2.2"), "/").as_deref(),
        Some("http://site.test:8080/")
    );
}

#[test]
fn other_names_are_fetched_over_https() {
    assert_eq!(
        url_for(SITE, Some("example.org"), "/a/b?c").as_deref(),
        Some("https://example.org/a/b?c")
    );
    assert_eq!(
        url_for(SITE, None, "http://Example.org/x").as_deref(),
        Some("https://example.org/x")
    );
    assert_eq!(
        url_for(SITE, Some("ignored.test"), "http://example.org").as_deref(),
        Some("https://example.org/")
    );
}

#[test]
fn no_name_no_url() {
    assert_eq!(url_for(SITE, None, "/"), None);
    assert_eq!(url_for(SITE, Some(""), "/"), None);
    assert_eq!(url_for(SITE, Some(":80"), "/"), None);
}

#[test]
fn a_request_to_a_name_becomes_a_fetch_and_its_response_comes_back() {
    let mut lan = Lan::new();
    let addr = lan.gw.names_mut().address_of("alpenglow.host").unwrap();
    let socket = lan.connect(addr, PORT);
    assert_eq!(lan.state(socket), tcp::State::Established);

    lan.send(
        socket,
        b"GET /dist/manifest.json HTTP/1.1\r\nHost: alpenglow.host\r\nAccept: */*\r\n\r\n",
    );
    let fetches = lan.gw.web_mut().take_fetches();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    let fetch = &fetches[0];
    assert_eq!(fetch.method, "GET");
    assert_eq!(fetch.url, "http://site.test:8080/dist/manifest.json");
    assert_eq!(fetch.headers, vec![("Accept".into(), b"*/*".to_vec())]);

    let id = fetch.id;
    let web = lan.gw.web_mut();
    web.head(
        id,
        200,
        "OK",
        &[("content-type".into(), b"application/json".to_vec())],
    );
    web.body(id, b"{\"a\":1}");
    web.end(id);
    lan.settle();
    let got = String::from_utf8(lan.received(socket)).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(got.contains("content-type: application/json\r\n"), "{got}");
    assert!(
        got.ends_with("\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n"),
        "{got}"
    );

    // Keep-alive: the same connection carries the next request.
    lan.send(socket, b"GET /two HTTP/1.1\r\nHost: example.org\r\n\r\n");
    let fetches = lan.gw.web_mut().take_fetches();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].url, "https://example.org/two");
    let id = fetches[0].id;
    lan.gw.web_mut().fail(id, 502, "no network");
    lan.settle();
    let got = String::from_utf8(lan.received(socket)).unwrap();
    assert!(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{got}");
    assert!(got.contains("alpenglow: no network"), "{got}");
    assert_eq!(lan.gw.web().counters.requests, 2);
}

#[test]
fn a_long_body_arrives_whole_and_in_order_as_the_guest_reads_it() {
    long_body(Lan::new());
}

#[test]
fn a_guest_with_little_room_gets_no_more_frames_than_it_can_take() {
    let mut lan = Lan::new();
    lan.room = Some(4);
    let lan = long_body(lan);
    assert_eq!(lan.most_in_one_poll, 4);
}

/// A 3 MB response to the guest, checked byte for byte.
fn long_body(mut lan: Lan) -> Lan {
    let socket = lan.connect(GATEWAY, PORT);
    lan.send(socket, b"GET /big HTTP/1.0\r\n\r\n");
    let id = lan.gw.web_mut().take_fetches()[0].id;
    lan.gw.web_mut().head(id, 200, "", &[]);

    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    while sent < body.len() {
        // The page reads on while the guest has less than this to take.
        while sent < body.len() && lan.gw.web().backlog(id).unwrap() < 256 * 1024 {
            let end = (sent + 16_384).min(body.len());
            lan.gw.web_mut().body(id, &body[sent..end]);
            sent = end;
        }
        lan.settle();
        got.extend(lan.received(socket));
    }
    lan.gw.web_mut().end(id);
    for _ in 0..100 {
        lan.settle();
        got.extend(lan.received(socket));
    }
    // HTTP/1.0: no chunks, the end of the body is the end of the connection.
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(got.len() - head_end, body.len());
    assert!(got[head_end..] == body[..], "the body changed on the way");
    assert!(!lan.sockets.get::<tcp::Socket>(socket).may_recv(), "no FIN");
    lan
}

#[test]
fn without_a_host_header_the_dialled_name_is_asked() {
    let mut lan = Lan::new();
    let addr = lan.gw.names_mut().address_of("example.org").unwrap();
    let socket = lan.connect(addr, PORT);
    lan.send(socket, b"GET /old HTTP/1.0\r\n\r\n");
    let fetches = lan.gw.web_mut().take_fetches();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert_eq!(fetches[0].url, "https://example.org/old");
}

#[test]
fn other_ports_are_refused_and_the_service_goes_on() {
    let mut lan = Lan::new();
    let refused = lan.connect(GATEWAY, 81);
    assert_eq!(lan.state(refused), tcp::State::Closed);
    let socket = lan.connect(GATEWAY, PORT);
    assert_eq!(lan.state(socket), tcp::State::Established);
}

#[test]
fn a_connection_the_guest_drops_is_forgotten() {
    let mut lan = Lan::new();
    let socket = lan.connect(GATEWAY, PORT);
    lan.send(socket, b"GET / HTTP/1.1\r\nHost: alpenglow.host\r\n\r\n");
    let id = lan.gw.web_mut().take_fetches()[0].id;
    assert!(lan.gw.web().backlog(id).is_some());
    lan.sockets.get_mut::<tcp::Socket>(socket).abort();
    lan.settle();
    assert_eq!(lan.gw.web().backlog(id), None);
    // A late response for it is ignored.
    lan.gw.web_mut().head(id, 200, "OK", &[]);
    lan.gw.web_mut().end(id);
    lan.settle();
}

/// The response to a `GET /` on `socket`: its id, once the gateway gave it out.
fn get(lan: &mut Lan, socket: SocketHandle) -> u64 {
    lan.send(socket, b"GET / HTTP/1.1\r\nHost: alpenglow.host\r\n\r\n");
    let fetches = lan.gw.web_mut().take_fetches();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    fetches[0].id
}

#[test]
fn a_fetch_that_dies_mid_body_resets_the_connection() {
    let mut lan = Lan::new();
    let socket = lan.connect(GATEWAY, PORT);
    let id = get(&mut lan, socket);
    lan.gw.web_mut().head(id, 200, "OK", &[]);
    lan.gw.web_mut().body(id, b"the first half");
    lan.settle();
    let got = String::from_utf8(lan.received(socket)).unwrap();
    assert!(got.ends_with("e\r\nthe first half\r\n"), "{got:?}");
    lan.gw.web_mut().fail(id, 502, "the network went away");
    lan.settle();
    // A reset, not a FIN: the guest cannot take the half for the whole.
    assert_eq!(lan.state(socket), tcp::State::Closed);
    assert!(lan.received(socket).is_empty());
    assert_eq!(lan.gw.web().counters.resets, 1);
    assert_eq!(lan.gw.web().backlog(id), None);
}

#[test]
fn a_lost_segment_is_sent_again() {
    let mut lan = Lan::new();
    let socket = lan.connect(GATEWAY, PORT);
    let id = get(&mut lan, socket);
    lan.lose_next_segment = true;
    lan.gw.web_mut().head(id, 200, "OK", &[]);
    lan.gw.web_mut().body(id, b"worth the wait");
    lan.gw.web_mut().end(id);
    lan.settle();
    assert!(!lan.lose_next_segment, "no segment was sent");
    assert!(lan.received(socket).is_empty(), "the lost segment arrived");
    // The gateway's retransmission timer runs out, and the segment comes again.
    for _ in 0..10 {
        lan.now += 1_000;
        lan.settle();
    }
    let got = String::from_utf8(lan.received(socket)).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(got.ends_with("e\r\nworth the wait\r\n0\r\n\r\n"), "{got:?}");
}

#[test]
fn a_full_window_waits_for_the_guest() {
    let mut lan = Lan::new();
    let window = 4096;
    let socket = lan.connect_with_window(GATEWAY, PORT, window);
    lan.send(socket, b"GET / HTTP/1.0\r\n\r\n");
    let id = lan.gw.web_mut().take_fetches()[0].id;
    let body: Vec<u8> = (0..1_200_000u32).map(|i| (i % 253) as u8).collect();
    lan.gw.web_mut().head(id, 200, "OK", &[]);
    lan.gw.web_mut().body(id, &body);
    lan.gw.web_mut().end(id);
    lan.settle();
    // The guest reads nothing: its window fills and the rest waits at the gateway.
    assert_eq!(lan.sockets.get::<tcp::Socket>(socket).recv_queue(), window);
    // (1.2 MB: the gateway's socket holds 1 MiB of them, the rest waits.)
    assert!(lan.gw.web().backlog(id).unwrap() > 50_000);
    for _ in 0..5 {
        lan.now += 1_000;
        lan.settle();
    }
    assert_eq!(lan.sockets.get::<tcp::Socket>(socket).recv_queue(), window);
    // Then it reads, the window opens, and everything comes, in order.
    let mut got = Vec::new();
    for _ in 0..10_000 {
        got.extend(lan.received(socket));
        if !lan.sockets.get::<tcp::Socket>(socket).may_recv() {
            break;
        }
        lan.now += 10;
        lan.settle();
    }
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        got[head_end..] == body[..],
        "{} of {} bytes",
        got.len() - head_end,
        body.len()
    );
}

/// A guest server on `port`: a listening socket in the guest's stack.
fn guest_listens(lan: &mut Lan, port: u16) -> SocketHandle {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
    );
    socket.listen(port).unwrap();
    lan.sockets.add(socket)
}

fn forward_request(port: u16, path: &str) -> crate::net::forward::Request {
    crate::net::forward::Request {
        port,
        method: "GET".into(),
        path: path.into(),
        headers: vec![("Accept".into(), "text/html".into())],
        body: Vec::new(),
    }
}

#[test]
fn the_page_reaches_a_server_in_the_guest() {
    let mut lan = Lan::new();
    let server = guest_listens(&mut lan, 8080);
    lan.gw.forward(7, &forward_request(8080, "/index.html?x=1"));
    lan.settle();
    // The guest's server reads the request and answers, then closes.
    let request = String::from_utf8(lan.received(server)).unwrap();
    assert!(
        request.starts_with("GET /index.html?x=1 HTTP/1.0\r\n"),
        "{request:?}"
    );
    assert!(request.contains("Accept: text/html\r\n"), "{request:?}");
    assert!(request.contains("Connection: close\r\n"), "{request:?}");
    let socket = lan.sockets.get_mut::<tcp::Socket>(server);
    socket
        .send_slice(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>hi-42</h1>")
        .unwrap();
    socket.close();
    lan.settle();
    let done = lan.gw.take_forwarded();
    assert_eq!(done.len(), 1, "{done:?}");
    let (id, answer) = &done[0];
    assert_eq!(*id, 7);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.reason, "OK");
    assert_eq!(
        answer.headers,
        vec![("Content-Type".to_string(), "text/html".to_string())]
    );
    assert_eq!(answer.body, b"<h1>hi-42</h1>");
}

#[test]
fn a_port_nobody_listens_on_is_a_502_that_says_so() {
    let mut lan = Lan::new();
    lan.gw.forward(1, &forward_request(9999, "/"));
    lan.settle();
    let done = lan.gw.take_forwarded();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].1.status, 502);
    let why = String::from_utf8_lossy(&done[0].1.body).into_owned();
    assert!(
        why.contains("nothing in the guest listens on TCP port 9999"),
        "{why}"
    );
}

#[test]
fn a_server_that_never_answers_times_out() {
    let mut lan = Lan::new();
    let _server = guest_listens(&mut lan, 8080);
    lan.gw.forward(3, &forward_request(8080, "/slow"));
    lan.settle();
    assert!(lan.gw.take_forwarded().is_empty());
    lan.now += crate::net::forward::TIMEOUT_MS + 1;
    lan.settle();
    let done = lan.gw.take_forwarded();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].1.status, 504);
}

#[test]
fn a_response_that_is_not_http_is_a_502() {
    let f = crate::net::forward::parse(8080, b"SSH-2.0-OpenSSH\r\n\r\n");
    assert_eq!(f.status, 502);
    let f = crate::net::forward::parse(8080, b"");
    assert_eq!(f.status, 502);
    assert!(String::from_utf8_lossy(&f.body).contains("without an answer"));
}
