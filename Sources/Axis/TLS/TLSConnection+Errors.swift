// Turns OpenSSL's result of one SSL call into what the event loop does next, and a failure into an
// `AxisError` an operator can act on: the certificate verification reason (when verification failed),
// the socket errno (when the socket failed) and OpenSSL's drained error queue.
@preconcurrency import Glibc
import COpenSSL

extension TLSConnection {
    enum Phase: String {
        case handshake, read, write, shutdown
    }

    enum Outcome {
        case wantRead, wantWrite, closed
        case failed(AxisError)
    }

    /// Classifies a failed call (`rc` ≤ 0). Must run right after the call, before anything touches the
    /// thread's OpenSSL error queue or `errno`.
    func outcome(_ rc: Int32, errno savedErrno: Int32, phase: Phase) -> Outcome {
        let code = SSL_get_error(handle, rc)
        switch code {
        case SSL_ERROR_WANT_READ:
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_SYSCALL where savedErrno == 0:
            // OpenSSL 3 reports a bare EOF as SSL_ERROR_SSL (below); this is the older path, kept for safety.
            return hungUp(phase)
        case SSL_ERROR_SYSCALL:
            let detail = OpenSSLErrors.drain()
            let what = phase == .handshake ? "the TLS handshake failed" : "the TLS connection failed during \(phase.rawValue)"
            return .failed(AxisError(errorCode(phase), "\(what): socket error" + (detail.isEmpty ? "" : " (OpenSSL: \(detail))"),
                                     errno: savedErrno))
        case SSL_ERROR_SSL:
            let reason = ERR_GET_REASON(ERR_peek_last_error())
            if reason == SSL_R_UNEXPECTED_EOF_WHILE_READING { return hungUp(phase) }
            return .failed(protocolFailure(phase))
        default:
            return .failed(OpenSSLErrors.error("unexpected SSL_get_error \(code) during \(phase.rawValue)", code: errorCode(phase)))
        }
    }

    /// The peer closed the socket without close_notify: an ordinary `.closed` before the handshake
    /// finished (nothing was exchanged), a distinct failure after it.
    private func hungUp(_ phase: Phase) -> Outcome {
        OpenSSLErrors.clear()
        if phase == .handshake { return .closed }
        return .failed(AxisError(.tlsUnexpectedEOF, "the peer closed the connection without a TLS close_notify during \(phase.rawValue)"))
    }

    private func errorCode(_ phase: Phase) -> AxisError.Code { phase == .handshake ? .tlsHandshake : .tlsConnection }

    /// A protocol failure, with the certificate verification reason when that is what failed.
    private func protocolFailure(_ phase: Phase) -> AxisError {
        var what = phase == .handshake ? "the TLS handshake failed" : "the TLS connection failed during \(phase.rawValue)"
        let verify = Int32(truncatingIfNeeded: SSL_get_verify_result(handle))
        if verify != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(Int(verify)))
            let whose = context.role == .server ? "client" : "server"
            let subject = SSL_get0_peer_certificate(handle).map { " of \(DistinguishedName(X509_get_subject_name($0)))" } ?? ""
            what += ": the \(whose) certificate\(subject) was refused: \(reason)"
            if let serverName, verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH {
                what += " (expected '\(serverName)' in its subjectAltName)"
            }
        }
        return OpenSSLErrors.error(what, code: errorCode(phase))
    }
}
