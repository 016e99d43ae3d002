import Locking

/// One admin token, and the name it stands for in the audit log.
package struct AdminToken: Sendable, Equatable {
    package var secret: String
    package var name: String?

    package init(_ secret: String, name: String? = nil) {
        self.secret = secret
        self.name = name
    }
}

/// Decides whether a mutating request may proceed. Tokens are compared in constant time (the
/// time does not depend on where a guess differs, nor on which token matched). Reloadable, so
/// tokens can be rotated without a restart.
package final class AdminAuthorizer: Sendable {
    package enum Policy: Sendable, Equatable {
        case tokens([AdminToken])
        /// No token file, and the configuration explicitly allows anyone (labs).
        case unauthenticatedAllowed
        /// No token file: changes are refused.
        case disabled
    }

    private let policy: Locked<Policy>

    package init(policy: Policy) { self.policy = Locked(policy) }

    package func replacePolicy(_ newPolicy: Policy) { policy.withLock { $0 = newPolicy } }

    package static let realm = "Bearer realm=\"pxe-catalog\""

    /// Who is making the change (for the audit log, never the token itself), or why not.
    package func authorize(authorizationHeader: String?) throws(APIError) -> String {
        switch policy.withLock({ $0 }) {
        case .unauthenticatedAllowed:
            return "unauthenticated client"
        case .disabled:
            throw APIError(.forbidden, "Changes are disabled: the server has no admin token file configured.")
        case let .tokens(tokens):
            guard let header = authorizationHeader, header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                throw APIError(.unauthorized, "This endpoint needs an admin token: send 'Authorization: Bearer <token>'.",
                               headers: [("WWW-Authenticate", Self.realm)])
            }
            let presented = Array(header.dropFirst(7).trimmingSpaces().utf8)
            var matched = -1
            for (index, token) in tokens.enumerated() where Self.constantTimeEqual(presented, Array(token.secret.utf8)) {
                if matched < 0 { matched = index }
            }
            guard matched >= 0 else {
                throw APIError(.unauthorized, "The admin token is not valid.", headers: [("WWW-Authenticate", Self.realm + ", error=\"invalid_token\"")])
            }
            return tokens[matched].name ?? "admin token #\(matched + 1)"
        }
    }

    func admit(_ request: HTTPRequest) throws(APIError) -> String {
        try authorize(authorizationHeader: request.headers["authorization"])
    }

    /// Compares every byte of the longer input, so timing reveals neither the matching prefix
    /// nor (beyond the length of the guess) the token.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
