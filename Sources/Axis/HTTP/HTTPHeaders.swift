/// Header (or trailer) fields in the order received, with case-insensitive lookup by name.
///
/// Names and values are kept as bytes in one contiguous buffer, with an index of where each field
/// starts: the parser copies each line's bytes once, and a lookup compares bytes without creating
/// strings. Values may hold obs-text (bytes 0x80–0xFF): the VDXP SDK sends Latin-1, so the `String`
/// accessors decode ISO-8859-1, and `firstValueBytes` gives the bytes themselves.
public struct HTTPHeaders: Sendable, Equatable, RandomAccessCollection, ExpressibleByDictionaryLiteral,
    CustomStringConvertible {
    /// One field: where its name and value lie in `storage` (the name runs up to `valueStart`).
    struct Entry: Sendable {
        var nameStart: Int
        var valueStart: Int
        var valueEnd: Int
    }

    /// A field as seen from outside. The byte slices share the headers' storage (no copy).
    public struct Field: Sendable, Equatable {
        /// The name's bytes, as sent.
        public let nameBytes: ArraySlice<UInt8>
        /// The value's bytes, without surrounding whitespace.
        public let valueBytes: ArraySlice<UInt8>
        /// The name as sent (header names are ASCII tokens).
        public var name: String { String(decoding: nameBytes, as: UTF8.self) }
        /// The value decoded as ISO-8859-1 (identical to ASCII for ASCII values).
        public var value: String { HTTPBytes.latin1String(valueBytes) }
    }

    private var storage: [UInt8] = []
    private var entries: [Entry] = []

    /// No fields.
    public init() {}

    /// Fields in the given order; see `add(_:_:)`.
    public init(_ fields: [(String, String)]) {
        for (name, value) in fields { add(name, value) }
    }

    /// Fields in the literal's order (`["Content-Type": "application/json"]`); see `add(_:_:)`.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    // MARK: Collection

    /// 0: fields are indexed by position in arrival order.
    public var startIndex: Int { 0 }
    /// The number of fields.
    public var endIndex: Int { entries.count }

    /// The field at `position`, in arrival order.
    public subscript(position: Int) -> Field {
        let e = entries[position]
        return Field(nameBytes: storage[e.nameStart..<e.valueStart], valueBytes: storage[e.valueStart..<e.valueEnd])
    }

    // MARK: Lookup

    /// The value bytes of the first field called `name` (ASCII case-insensitive).
    public func firstValueBytes(_ name: String) -> ArraySlice<UInt8>? {
        guard let i = firstIndex(named: name) else { return nil }
        return storage[entries[i].valueStart..<entries[i].valueEnd]
    }

    /// The first value of `name`, decoded as ISO-8859-1; nil when absent.
    public subscript(name: String) -> String? {
        firstValueBytes(name).map { HTTPBytes.latin1String($0) }
    }

    /// Every value of `name` in order, decoded as ISO-8859-1.
    public func values(_ name: String) -> [String] {
        entries.indices.filter { nameMatches($0, name) }.map { self[$0].value }
    }

    /// Whether some field is called `name` (ASCII case-insensitive).
    public func contains(_ name: String) -> Bool { firstIndex(named: name) != nil }

    func firstIndex(named name: String) -> Int? {
        entries.indices.first { nameMatches($0, name) }
    }

    private func nameMatches(_ i: Int, _ name: String) -> Bool {
        let e = entries[i]
        return e.valueStart - e.nameStart == name.utf8.count
            && HTTPBytes.equalsIgnoringCase(storage[e.nameStart..<e.valueStart], name)
    }

    // MARK: Building

    /// Appends a field. `name` must be a token (a programming error otherwise: names come from code).
    /// The value is stored as ISO-8859-1 when every character fits (so `self[name]` gives it back), else
    /// as UTF-8; send ASCII where you can. Control characters, CR and LF included, become spaces, so a
    /// value taken from a request can never split the header it is written into.
    public mutating func add(_ name: String, _ value: String) {
        if value.unicodeScalars.allSatisfy({ $0.value <= 0xFF }) {
            add(name: name, valueBytes: value.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        } else {
            add(name: name, valueBytes: value.utf8)
        }
    }

    /// Appends a field with raw value bytes; control bytes become spaces as in `add(_:_:)`.
    public mutating func add<C: Collection>(name: String, valueBytes: C) where C.Element == UInt8 {
        precondition(!name.isEmpty && name.utf8.allSatisfy(HTTPBytes.isTokenByte), "'\(name)' is not a header name")
        let nameStart = storage.count
        storage.append(contentsOf: name.utf8)
        let valueStart = storage.count
        for b in valueBytes { storage.append(HTTPBytes.isFieldValueByte(b) ? b : HTTPBytes.sp) }
        entries.append(Entry(nameStart: nameStart, valueStart: valueStart, valueEnd: storage.count))
    }

    /// Replaces every field called `name` with one field holding `value`.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    /// Removes every field called `name`.
    public mutating func remove(_ name: String) {
        guard firstIndex(named: name) != nil else { return }
        let old = self
        self = HTTPHeaders()
        for i in old.indices where !old.nameMatches(i, name) {
            let f = old[i]
            append(name: f.nameBytes, value: f.valueBytes)
        }
    }

    /// Appends already-validated bytes (the parser's path: no checks, no per-byte work).
    mutating func append<N: Collection, V: Collection>(name: N, value: V) where N.Element == UInt8, V.Element == UInt8 {
        let nameStart = storage.count
        storage.append(contentsOf: name)
        let valueStart = storage.count
        storage.append(contentsOf: value)
        entries.append(Entry(nameStart: nameStart, valueStart: valueStart, valueEnd: storage.count))
    }

    /// Reserves room for a typical request's header section, so parsing one does not regrow the buffers.
    mutating func reserveForHeaderSection() {
        storage.reserveCapacity(512)
        entries.reserveCapacity(16)
    }

    /// Appends `Name: value\r\n` for every field except those `skip` names.
    func write(into out: inout [UInt8], skipping skip: (ArraySlice<UInt8>) -> Bool = { _ in false }) {
        for e in entries {
            let name = storage[e.nameStart..<e.valueStart]
            if skip(name) { continue }
            out.append(contentsOf: name)
            out.append(HTTPBytes.colon)
            out.append(HTTPBytes.sp)
            out.append(contentsOf: storage[e.valueStart..<e.valueEnd])
            out.append(contentsOf: HTTPBytes.crlf)
        }
    }

    // MARK: Equatable, description

    /// Same fields, same order, names compared byte for byte.
    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.nameBytes == $1.nameBytes && $0.valueBytes == $1.valueBytes }
    }

    public var description: String {
        "[" + map { "\($0.name): \($0.value)" }.joined(separator: ", ") + "]"
    }
}
