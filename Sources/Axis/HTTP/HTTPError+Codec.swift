/// The errors the parsers report, each with the status RFC 9110/9112 prescribes and a message that says
/// what to change. Kept in one place so the wording stays consistent.
extension HTTPError {
    static func invalidRequestLine(_ why: String) -> HTTPError {
        HTTPError(.badRequest, .invalidRequestLine, "invalid request line: \(why); expected 'METHOD /path HTTP/1.1'")
    }

    static func invalidStatusLine(_ why: String) -> HTTPError {
        HTTPError(.badGateway, .invalidStatusLine, "invalid status line: \(why); expected 'HTTP/1.1 200 OK'")
    }

    static func versionNotSupported(_ version: HTTPVersion) -> HTTPError {
        HTTPError(.httpVersionNotSupported, .httpVersionNotSupported, "\(version) is not supported; use HTTP/1.1")
    }

    static func invalidField(_ section: HTTPFieldSection, _ why: String) -> HTTPError {
        HTTPError(.badRequest, .invalidHeader, "invalid \(section): \(why)")
    }

    static func invalidHost(_ why: String) -> HTTPError {
        HTTPError(.badRequest, .invalidHost, why)
    }

    static func invalidChunk(_ why: String) -> HTTPError {
        HTTPError(.badRequest, .invalidChunk, "invalid chunked body: \(why)")
    }

    static func expectationFailed(_ expectation: String) -> HTTPError {
        HTTPError(.expectationFailed, .expectationFailed,
                  "Expect '\(expectation)' is not supported; only '100-continue' is")
    }

    static func requestLineTooLong(limit: Int) -> HTTPError {
        HTTPError(.uriTooLong, .requestLineTooLong, "the request line is longer than \(limit) bytes; shorten the URL")
    }

    static func statusLineTooLong(limit: Int) -> HTTPError {
        HTTPError(.badGateway, .statusLineTooLong, "the status line is longer than \(limit) bytes")
    }

    static func sectionTooLarge(_ section: HTTPFieldSection, limit: Int) -> HTTPError {
        HTTPError(.requestHeaderFieldsTooLarge, .headerSectionTooLarge,
                  "the \(section) section is larger than \(limit) bytes; send fewer or shorter fields")
    }

    static func tooManyFields(_ section: HTTPFieldSection, limit: Int) -> HTTPError {
        HTTPError(.requestHeaderFieldsTooLarge, .tooManyHeaders,
                  "the \(section) section has more than \(limit) fields")
    }

    static func bodyTooLarge(declared: Int?, limit: Int) -> HTTPError {
        let what = declared.map { $0 == Int.max ? "the declared body length" : "the declared body of \($0) bytes" }
            ?? "the body"
        return HTTPError(.contentTooLarge, .bodyTooLarge, "\(what) exceeds the limit of \(limit) bytes for this request")
    }

    static func truncated(_ during: String) -> HTTPError {
        HTTPError(.badRequest, .truncatedMessage, "the connection ended while reading the \(during)")
    }

    /// The same error as seen by a client: the fault is the server's, so the status is 502 Bad Gateway
    /// (what a proxy would answer); code and message stay.
    var receivedFromServer: HTTPError { HTTPError(.badGateway, code, message) }
}
