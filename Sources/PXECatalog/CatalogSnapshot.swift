import Foundation

/// An immutable view of the catalog at one moment; entries are ordered by root, then path. Requests read a snapshot; a refresh builds a
/// new one and swaps it in, so a request never sees a half-done scan.
public final class CatalogSnapshot: Sendable {
    public let entries: [CatalogEntry]
    public let generation: Int
    public let scannedAt: Date
    public let scanDuration: Duration
    private let indexByID: [String: Int]


    public init(entries: [CatalogEntry], generation: Int, scannedAt: Date = Date(), scanDuration: Duration = .zero) {
        self.entries = entries
        self.generation = generation
        self.scannedAt = scannedAt
        self.scanDuration = scanDuration
        var byID: [String: Int] = [:]
        byID.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            byID[entry.id] = byID[entry.id] ?? index
        }
        indexByID = byID
    }

    public static let empty = CatalogSnapshot(entries: [], generation: 0, scannedAt: Date(timeIntervalSince1970: 0))

    public func entry(id: String) -> CatalogEntry? {
        indexByID[id].map { entries[$0] }
    }


    public var invalidCount: Int { entries.reduce(0) { $0 + ($1.isValid ? 0 : 1) } }
}
