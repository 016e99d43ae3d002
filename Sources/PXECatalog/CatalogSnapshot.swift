import Foundation

/// An immutable view of the catalog at one moment; entries are ordered by root, then path. Requests read a snapshot; a refresh builds a
/// new one and swaps it in, so a request never sees a half-done scan.
package final class CatalogSnapshot: Sendable {
    package let entries: [CatalogEntry]
    package let generation: Int
    package let scannedAt: Date
    package let scanDuration: Duration
    private let indexByID: [String: Int]


    package init(entries: [CatalogEntry], generation: Int, scannedAt: Date = Date(), scanDuration: Duration = .zero) {
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

    package static let empty = CatalogSnapshot(entries: [], generation: 0, scannedAt: Date(timeIntervalSince1970: 0))

    package func entry(id: String) -> CatalogEntry? {
        indexByID[id].map { entries[$0] }
    }


    package var invalidCount: Int { entries.reduce(0) { $0 + ($1.isValid ? 0 : 1) } }
}
