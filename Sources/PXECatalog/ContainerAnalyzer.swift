import Foundation
import StrictJSON

/// The optional analysis of a container's picture by an external command (the previous server's
/// `use_vision`): `command container.png thumbnail.png` prints `{"description": ..., "labels": [...]}`.
/// The command runs in a process group of its own, with its output capped and a time limit after
/// which the whole group is killed; whatever it does, the worker gets a result or a problem.
package struct ContainerAnalyzer: Sendable {
    package struct Result: Sendable, Equatable {
        package var description: String?
        package var labels: [String]
        /// Why there is no analysis (the command failed, hung or printed something else).
        package var problem: String?

        package init(description: String?, labels: [String], problem: String? = nil) {
            self.description = description
            self.labels = labels
            self.problem = problem
        }

        package static func failed(_ problem: String) -> Result { Result(description: nil, labels: [], problem: problem) }
    }

    package var command: [String]
    package var timeout: Duration

    static let maximumOutputBytes = 64 << 10
    static let maximumDescriptionCharacters = 2000
    static let maximumLabels = 32
    static let maximumLabelCharacters = 64

    package init(command: [String], timeout: Duration) {
        self.command = command
        self.timeout = timeout
    }

    /// Runs the command on one container; nil when `shouldStop` said so meanwhile.
    package func analyze(containerPath: String, thumbnailPath: String, shouldStop: () -> Bool) -> Result? {
        guard let program = command.first else { return .failed("no analyzer command is configured") }
        let outcome = ChildProcess.run(program, arguments: Array(command.dropFirst()) + [containerPath, thumbnailPath],
                                       timeout: timeout, outputLimit: Self.maximumOutputBytes, shouldStop: shouldStop)
        let name = (program as NSString).lastPathComponent
        switch outcome {
        case .stopped:
            return nil
        case let .couldNotStart(code):
            return .failed("the analyzer \(name) could not be started: \(String(cString: strerror(code)))")
        case .timedOut:
            return .failed("the analyzer \(name) did not finish within \(timeout) and was stopped")
        case let .exited(status, output, errors):
            guard status == 0 else {
                let line = String(decoding: errors.prefix(300), as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
                return .failed("the analyzer \(name) exited with status \(status)" + (line.map { ": \(Self.printable($0))" } ?? ""))
            }
            return Self.parse(output, name: name)
        case let .killed(signal, _):
            return .failed("the analyzer \(name) was killed by signal \(signal)")
        }
    }

    /// The command's output: one JSON object with a string `description` (or null) and a list of
    /// string `labels`; both are cut to sizes a listing can carry.
    static func parse(_ output: [UInt8], name: String) -> Result {
        let refusal = Result.failed("the analyzer \(name) printed something other than a JSON object with description and labels")
        guard let document = try? JSONParser.parse(output), case .object = document else { return refusal }
        var description: String?
        switch document["description"] {
        case nil, .null?: description = nil
        case let .string(text)?: description = Self.clip(Self.printable(text), Self.maximumDescriptionCharacters)
        default: return refusal
        }
        var labels: [String] = []
        switch document["labels"] {
        case nil, .null?: break
        case let .array(items)?:
            for item in items {
                guard case let .string(text) = item else { return refusal }
                let label = Self.clip(Self.printable(text), Self.maximumLabelCharacters)
                if !label.isEmpty && !labels.contains(label) { labels.append(label) }
            }
        default: return refusal
        }
        if description?.isEmpty == true { description = nil }
        return Result(description: description, labels: Array(labels.prefix(Self.maximumLabels)))
    }

    /// Control characters become spaces and runs of white space one space.
    static func printable(_ text: String) -> String {
        let spaced = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return spaced.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func clip(_ text: String, _ limit: Int) -> String { text.count <= limit ? text : String(text.prefix(limit - 1)) + "…" }
}

/// A child process run to completion with bounded output and time (posix_spawn; no shell).
enum ChildProcess {
    enum Outcome {
        case exited(status: Int32, output: [UInt8], errors: [UInt8])
        case killed(signal: Int32, output: [UInt8])
        case timedOut
        case couldNotStart(Int32)
        case stopped
    }

    static func run(_ program: String, arguments: [String], timeout: Duration, outputLimit: Int, shouldStop: () -> Bool) -> Outcome {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0 else { return .couldNotStart(errno) }
        guard pipe(&errPipe) == 0 else {
            let code = errno
            close(outPipe[0]); close(outPipe[1])
            return .couldNotStart(code)
        }
        // Glibc's pipe2 is not visible from Swift: close-on-exec set right after (the worker
        // starts no other processes at the same time).
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A process group of its own (the time limit kills what it started too), signals as new.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)

        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        guard spawned == 0 else { return .couldNotStart(spawned) }

        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = [], errors: [UInt8] = []
        var open = [true, true]
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        func stopGroup() {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        while open[0] || open[1] {
            if shouldStop() { stopGroup(); return .stopped }
            if ContinuousClock.now >= deadline { stopGroup(); return .timedOut }
            var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
            for index in 0..<2 where !open[index] { fds[index].fd = -1 }
            let ready = poll(&fds, 2, 100)
            if ready < 0 && errno != EINTR { break }
            for index in 0..<2 where open[index] && fds[index].revents != 0 {
                let count = read(fds[index].fd, &buffer, buffer.count)
                if count > 0 {
                    // Beyond the limit the output is read and dropped, so the child never blocks on a full pipe.
                    if index == 0 { if output.count < outputLimit { output += buffer[0..<min(count, outputLimit - output.count)] } }
                    else if errors.count < 4096 { errors += buffer[0..<min(count, 4096 - errors.count)] }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    open[index] = false
                }
            }
        }
        // Output closed: the child is exiting (or closed its output and goes on: the deadline holds).
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { return .couldNotStart(errno) }
            if shouldStop() { stopGroup(); return .stopped }
            if ContinuousClock.now >= deadline { stopGroup(); return .timedOut }
            usleep(10_000)
        }
        kill(-pid, SIGKILL)   // anything it left running in its group
        let exited = status & 0x7F == 0
        return exited ? .exited(status: (status >> 8) & 0xFF, output: output, errors: errors) : .killed(signal: status & 0x7F, output: output)
    }
}
