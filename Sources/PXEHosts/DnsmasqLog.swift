/// What a machine's firmware or loader got from dnsmasq before it ever spoke HTTP: a DHCP
/// answer (which loader or URL, which address) or a TFTP transfer.
public struct NetworkBootEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case dhcp, tftp
    }

    public var kind: Kind
    /// Lower-case, colon-separated.
    public var mac: String
    /// The machine's IPv4 address (the one handed out, or the one a transfer went to).
    public var address: String?
    /// What the client said it is: `bios`, `uefi`, `uefi-http`, `ipxe`, or `other` (a plain DHCP client).
    public var client: String?
    /// The loader or URL it was given (DHCP), the file sent or asked for (TFTP).
    public var given: String?
    /// 200 answered or sent; 404 a file that is not there; 403 a refusal (DHCPNAK); 500 a failed transfer.
    public var status: Int

    public init(kind: Kind, mac: String, address: String? = nil, client: String? = nil, given: String? = nil, status: Int = 200) {
        self.kind = kind
        self.mac = mac
        self.address = address
        self.client = client
        self.given = given
        self.status = status
    }

    /// `pcbios` or `efi` for the boot log's machine, from the client kind.
    public var platform: String? {
        switch client {
        case "bios": return "pcbios"
        case "uefi", "uefi-http": return "efi"
        default: return nil
        }
    }
}

/// Reads dnsmasq's log (`log-dhcp`, written to a file) into `NetworkBootEvent`s. dnsmasq writes
/// each DHCP transaction as several lines that share its transaction id, and its TFTP lines name
/// only the client's address: a transaction is kept until it has been quiet a moment, and an
/// address is matched to the MAC that was last given it (or the host's neighbour table, through
/// `neighbour`). Bounded: a few hundred transactions and a few thousand addresses are kept.
public struct DnsmasqLogReader: Sendable {
    /// What a client gets by TFTP, which dnsmasq's log does not repeat for each answer: the
    /// generated configuration's loaders, by client kind.
    public struct Loaders: Sendable, Equatable {
        public var bios: String
        public var uefi: String

        public init(bios: String, uefi: String) {
            self.bios = bios
            self.uefi = uefi
        }
    }

    struct Transaction {
        var mac: String?
        var tags: [String] = []
        var vendorClass: String?
        var userClass: String?
        var given: String?
        var address: String?
        var acked = false
        var proxied = false
        var refusal: String?
        var lastLine: Double
        var emitted = false
    }

    public static let maximumTransactions = 256
    public static let maximumAddresses = 4096
    /// A transaction is complete once it has had no line for this long (dnsmasq writes one at once).
    public static let quietSeconds = 0.3

    let loaders: Loaders
    /// The TFTP root's path as dnsmasq writes it, to name files relative to it.
    let tftpRoot: String
    /// The MAC of an IPv4 address from the host's neighbour table (`/proc/net/arp`), for
    /// addresses dnsmasq did not hand out itself (proxy mode).
    let neighbour: @Sendable (String) -> String?
    var transactions: [String: Transaction] = [:]
    var order: [String] = []
    var macByAddress: [String: String] = [:]
    var addressOrder: [String] = []

    public init(loaders: Loaders, tftpRoot: String, neighbour: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.loaders = loaders
        var root = tftpRoot
        while root.hasSuffix("/") && root.count > 1 { root.removeLast() }
        self.tftpRoot = root
        self.neighbour = neighbour
    }

    /// Reads one line of the log (at `now`, seconds); returns the events it completes at once
    /// (TFTP lines). DHCP events come from `flush`.
    public mutating func read(line: Substring, now: Double) -> [NetworkBootEvent] {
        if let message = Self.message(of: line, from: "dnsmasq-tftp[") {
            guard let transfer = tftp(message) else { return [] }
            // The answer that led to it comes first, though its transaction is not quiet yet.
            return completed(mac: transfer.mac) + [transfer]
        }
        guard let message = Self.message(of: line, from: "dnsmasq-dhcp[") else { return [] }
        // "<xid> <what>": lines without a transaction (router advertisements) say nothing of a boot.
        guard let space = message.firstIndex(of: " "), message[..<space].allSatisfy(\.isNumber) else { return [] }
        let id = String(message[..<space])
        let text = message[message.index(after: space)...]
        var transaction = transactions[id] ?? Transaction(lastLine: now)
        if transactions[id] == nil {
            order.append(id)
            if order.count > Self.maximumTransactions { transactions[order.removeFirst()] = nil }
        }
        transaction.lastLine = now
        apply(text, to: &transaction)
        transactions[id] = transaction
        return []
    }

    /// The DHCP answers whose transactions have been quiet for `quietSeconds` (all of them when
    /// `force`), each once.
    public mutating func flush(now: Double, force: Bool = false) -> [NetworkBootEvent] {
        var events: [NetworkBootEvent] = []
        var kept: [String] = []
        for id in order {
            guard let transaction = transactions[id] else { continue }
            guard force || now - transaction.lastLine >= Self.quietSeconds else {
                kept.append(id)
                continue
            }
            transactions[id] = nil
            guard !transaction.emitted, let event = event(for: transaction) else { continue }
            if let address = event.address { remember(address, mac: event.mac) }
            events.append(event)
        }
        order = kept
        return events
    }

    /// The answers to machine `mac` that are complete enough to report now (an acknowledged
    /// address, a proxy answer with a file), each once.
    mutating func completed(mac: String) -> [NetworkBootEvent] {
        var events: [NetworkBootEvent] = []
        for id in order {
            guard var transaction = transactions[id], transaction.mac == mac, !transaction.emitted,
                  let event = event(for: transaction) else { continue }
            transaction.emitted = true
            transactions[id] = transaction
            events.append(event)
        }
        return events
    }

    mutating func apply(_ text: Substring, to transaction: inout Transaction) {
        if let value = Self.value(of: text, after: "vendor class: ") {
            transaction.vendorClass = value
        } else if let value = Self.value(of: text, after: "user class: ") {
            transaction.userClass = value
        } else if let value = Self.value(of: text, after: "tags: ") {
            transaction.tags = value.split(separator: ",").map { $0.trimmingCharacters(in: " ") }
        } else if let value = Self.value(of: text, after: "bootfile name: ") {
            transaction.given = value
        } else if text.hasPrefix("sent size:"), let range = text.firstRange(of: "bootfile-name ") {
            // `sent size: 36 option: 67 bootfile-name  http://...`
            transaction.given = text[range.upperBound...].trimmingCharacters(in: " ")
        } else if let (verb, words) = Self.packet(text) {
            // `DHCPACK(eth0) 10.77.0.195 52:54:00:77:00:42 [name]`, `PXE(eth0) [address] mac proxy`
            let mac = words.lazy.compactMap(MachineIdentity.normalisedMAC).first
            let address = words.first { $0.split(separator: ".").count == 4 && $0.allSatisfy { $0.isNumber || $0 == "." } }
            if let mac { transaction.mac = mac }
            switch verb {
            case "DHCPACK":
                transaction.acked = true
                transaction.address = address ?? transaction.address
                // Known at once: the loader's TFTP transfer follows within milliseconds.
                if let address, let mac { remember(address, mac: mac) }
            case "DHCPOFFER":
                transaction.address = address ?? transaction.address
            case "DHCPNAK":
                transaction.address = address ?? transaction.address
                transaction.refusal = words.drop { $0 != mac }.dropFirst().joined(separator: " ")
            case "PXE":
                transaction.proxied = true
                if let address { transaction.address = address }
            default:
                break
            }
        }
    }

    /// The event a complete transaction stands for: an acknowledged address (server mode), a
    /// proxy answer that named a boot file, or a refusal. Offers and discoveries alone are not.
    func event(for transaction: Transaction) -> NetworkBootEvent? {
        guard let mac = transaction.mac else { return nil }
        let client = Self.client(tags: transaction.tags)
        if let refusal = transaction.refusal {
            return NetworkBootEvent(kind: .dhcp, mac: mac, address: transaction.address, client: client,
                                    given: refusal.isEmpty ? "refused" : "refused: \(refusal)", status: 403)
        }
        // dnsmasq logs a TFTP loader only when the client asked for option 67; the
        // configuration says which loader each PXE client kind gets.
        var given = transaction.given
        if given == nil, transaction.acked || transaction.proxied {
            switch client {
            case "uefi": given = loaders.uefi
            case "bios": given = loaders.bios
            default: break
            }
        }
        if transaction.acked {
            return NetworkBootEvent(kind: .dhcp, mac: mac, address: transaction.address, client: client, given: given)
        }
        // Proxy mode: the first answer only offers the PXE service; the one that names the file counts.
        if transaction.proxied, transaction.given != nil {
            return NetworkBootEvent(kind: .dhcp, mac: mac, address: transaction.address, client: client, given: given)
        }
        return nil
    }

    mutating func tftp(_ message: Substring) -> NetworkBootEvent? {
        var file: Substring, address: Substring, status: Int
        if message.hasPrefix("sent "), let to = message.ranges(of: " to ").last {
            (file, address, status) = (message[message.index(message.startIndex, offsetBy: 5)..<to.lowerBound], message[to.upperBound...], 200)
        } else if message.hasPrefix("file "), let notFound = message.ranges(of: " not found for ").last {
            (file, address, status) = (message[message.index(message.startIndex, offsetBy: 5)..<notFound.lowerBound], message[notFound.upperBound...], 404)
        } else if message.hasPrefix("failed sending "), let to = message.ranges(of: " to ").last {
            (file, address, status) = (message[message.index(message.startIndex, offsetBy: 15)..<to.lowerBound], message[to.upperBound...], 500)
        } else {
            // Errors the client reports (a size probe it aborts on purpose) and the start-up lines.
            return nil
        }
        let ip = address.trimmingCharacters(in: " ")
        guard let mac = macByAddress[ip] ?? neighbour(ip) else { return nil }
        var name = String(file)
        if name.hasPrefix(tftpRoot + "/") { name.removeFirst(tftpRoot.count + 1) }
        return NetworkBootEvent(kind: .tftp, mac: mac, address: ip, given: name, status: status)
    }

    mutating func remember(_ address: String, mac: String) {
        if macByAddress.updateValue(mac, forKey: address) == nil {
            addressOrder.append(address)
            if addressOrder.count > Self.maximumAddresses { macByAddress[addressOrder.removeFirst()] = nil }
        }
    }

    /// The client kind from the generated configuration's tags (`ipxe` first: iPXE also
    /// reports its architecture).
    static func client(tags: [String]) -> String {
        if tags.contains("ipxe") { return "ipxe" }
        if tags.contains("httpboot") { return "uefi-http" }
        if tags.contains("efi64") { return "uefi" }
        if tags.contains("bios") { return "bios" }
        return "other"
    }

    /// The text after `dnsmasq-dhcp[pid]: ` (or the TFTP one) in a log line.
    static func message(of line: Substring, from program: String) -> Substring? {
        guard let start = line.firstRange(of: program), let end = line[start.upperBound...].firstRange(of: "]: ") else { return nil }
        return line[end.upperBound...]
    }

    static func value(of text: Substring, after prefix: String) -> String? {
        guard text.hasPrefix(prefix) else { return nil }
        return text.dropFirst(prefix.count).trimmingCharacters(in: " ")
    }

    /// `VERB(interface) word word ...` → (VERB, words).
    static func packet(_ text: Substring) -> (String, [String])? {
        guard let open = text.firstIndex(of: "("), let close = text[open...].firstIndex(of: ")"),
              text[..<open].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "-" }), !text[..<open].isEmpty else { return nil }
        let words = text[text.index(after: close)...].split(separator: " ").map(String.init)
        return (String(text[..<open]), words)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var text = self
        while text.first == set || text.first == "\t" { text.removeFirst() }
        while text.last == set || text.last == "\t" || text.last == "\r" { text.removeLast() }
        return String(text)
    }
}
