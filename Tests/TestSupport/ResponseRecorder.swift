import Foundation
import Locking
import StrictJSON

/// Appends every response the end-to-end tests receive through nginx to a JSON-lines file in
/// `E2E_RESPONSES_DIR` (set by `make test`), for `Tests/Contract/check_responses.py` to check
/// against docs/openapi.yaml. Without the variable nothing is recorded.
public final class ResponseRecorder: Sendable {
    public static let shared: ResponseRecorder? = ProcessInfo.processInfo.environment["E2E_RESPONSES_DIR"].map {
        ResponseRecorder(path: "\($0)/responses-\(getpid()).jsonl")
    }

    private let file = Locked<FileHandle?>(nil)
    private let recordPath: String

    init(path: String) { recordPath = path }

    /// Headers the contract names; the rest (Date, Server, ...) is nginx's business.
    static let keptHeaders = ["content-type", "allow", "www-authenticate", "retry-after", "content-range", "content-disposition", "content-length"]

    public func record(method: String, target: String, requestHeaders: [String], response: TestServer.Response) {
        let (path, query) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) } ?? (target, "")
        let contentType = response.headers["content-type"] ?? ""
        var members: [(String, JSONValue)] = [
            ("method", .string(method)),
            ("path", .string(path)),
            ("query", .string(query)),
            ("request_headers", .array(requestHeaders.map { .string($0.split(separator: ":").first.map(String.init)?.lowercased() ?? "") })),
            ("status", .int(Int64(response.status))),
            ("headers", .object(Self.keptHeaders.compactMap { name in response.headers[name].map { (name, .string($0)) } })),
        ]
        let textual = contentType.hasPrefix("application/json") || contentType.hasPrefix("text/")
        if textual, let text = String(validating: response.body, as: UTF8.self) {
            members.append(("body", .string(text)))
        } else {
            members.append(("body_length", .int(Int64(response.body.count))))
        }
        let line = JSONValue.object(members).serialized() + [0x0A]
        file.withLock { handle in
            if handle == nil {
                _ = FileManager.default.createFile(atPath: recordPath, contents: nil)
                handle = FileHandle(forWritingAtPath: recordPath)
                handle?.seekToEndOfFile()
            }
            handle?.write(Data(line))
        }
    }
}
