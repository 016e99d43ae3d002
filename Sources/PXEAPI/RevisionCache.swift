import Locking

/// One value per catalog state (or any other key): rebuilt when the key changes and shared by
/// every request until then. A boot storm asks for the same menu and listings thousands of
/// times between two changes. The value is built under the lock, so concurrent requests after
/// a change wait for one rendering instead of each doing their own.
final class RevisionCache<Key: Equatable & Sendable, Value: Sendable>: Sendable {
    private let slot = Locked<(key: Key, value: Value)?>(nil)

    init() {}

    /// The value for `key`, made by `make` when the cached one is for another key.
    func value(for key: Key, make: () -> Value) -> Value {
        update(for: key, initial: make) { $0 }
    }

    /// Runs `body` on the value for `key` (starting from `initial()` when the key changed), for
    /// values that fill in while the key holds (per-id memo tables).
    func update<Result>(for key: Key, initial: () -> Value, _ body: (inout Value) -> Result) -> Result {
        slot.withLock { slot in
            if slot == nil || slot!.key != key { slot = (key, initial()) }
            return body(&slot!.value)
        }
    }

    /// Drops the value (the configuration it was rendered with changed).
    func invalidate() {
        slot.withLock { $0 = nil }
    }
}
