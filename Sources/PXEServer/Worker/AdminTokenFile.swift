import Foundation
import PXEAPI

/// Reads admin tokens: one a line, blank lines and `#` comments ignored. Like ssh with private
/// keys, refuses a file that others can read or write.
package enum AdminTokenFile {
    package static let minimumTokenLength = 16

    /// Why the token file was refused.
    package struct LoadError: Error, CustomStringConvertible {
        package enum Kind: Sendable, Equatable {
            case unreadable
            /// Others may read or write it (mode wider than 0600).
            case tooOpen
            /// A line that is not a usable token, or no token at all.
            case badToken
        }

        package let kind: Kind
        package let description: String
    }

    /// The tokens, each with the name written after it on its line (`<token> <name>`), which the
    /// audit log records as who made a change.
    package static func load(path: String) throws(LoadError) -> [AdminToken] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw LoadError(kind: .unreadable, description: "Admin token file \(path) (admin.token_file) cannot be read: \(String(cString: strerror(errno))).")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LoadError(kind: .unreadable, description: "Admin token file \(path) (admin.token_file) is not a regular file.")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o007 == 0 else {
            throw LoadError(kind: .tooOpen, description: "Admin token file \(path) (admin.token_file) is accessible by other users (mode \(String(mode, radix: 8))); run chmod 600 on it.")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw LoadError(kind: .unreadable, description: "Admin token file \(path) (admin.token_file) cannot be read as UTF-8 text.")
        }
        var tokens: [AdminToken] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let secret = String(line.prefix { $0 != " " && $0 != "\t" })
            let name = line.dropFirst(secret.count).trimmingCharacters(in: .whitespaces)
            guard secret.count >= minimumTokenLength, secret.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw LoadError(kind: .badToken, description: "Admin token file \(path) (admin.token_file), line \(number + 1): a token must be at least \(minimumTokenLength) printable ASCII characters without spaces.")
            }
            guard name.count <= 64, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
                throw LoadError(kind: .badToken, description: "Admin token file \(path) (admin.token_file), line \(number + 1): the name after the token must be at most 64 printable ASCII characters.")
            }
            tokens.append(AdminToken(secret, name: name.isEmpty ? nil : name))
        }
        guard !tokens.isEmpty else {
            throw LoadError(kind: .badToken, description: "Admin token file \(path) (admin.token_file) holds no tokens.")
        }
        return tokens
    }
}
