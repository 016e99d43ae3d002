import Foundation

/// A value shared with a helper thread.
public final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    public init(_ value: Value) { stored = value }
    public var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
    public func update(_ body: (inout Value) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}

public enum DemoBytes {
    /// Fast, reproducible, incompressible-looking bytes.
    public static func make(count: Int) -> [UInt8] {
        var state: UInt64 = 0x1234_5678_9ABC_DEF1
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[i] = state
            }
        }
        return bytes
    }
}
