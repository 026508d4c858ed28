import CRabbitMQ

/// Scratch memory for the C structures of one call (strings, field tables). Chunks are never
/// moved, so pointers handed out stay valid until `reset()`; `reset()` keeps the first chunk
/// so a busy publisher allocates nothing in the steady state.
///
/// Owned by the connection's thread alone (not Sendable).
final class CArena {
    private var chunks: [(base: UnsafeMutableRawPointer, size: Int)] = []
    private var used = 0
    private let chunkSize: Int

    init(chunkSize: Int = 16 * 1024) {
        self.chunkSize = chunkSize
    }

    deinit {
        for chunk in chunks { chunk.base.deallocate() }
    }

    func reset() {
        while chunks.count > 1 { chunks.removeLast().base.deallocate() }
        used = 0
    }

    func allocate(byteCount: Int, alignment: Int = 16) -> UnsafeMutableRawPointer {
        let aligned = (used + alignment - 1) & ~(alignment - 1)
        if let last = chunks.last, aligned + byteCount <= last.size {
            used = aligned + byteCount
            return last.base + aligned
        }
        let size = max(chunkSize, byteCount)
        let base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        chunks.append((base, size))
        used = byteCount
        return base
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { utf8 in bytes(UnsafeRawBufferPointer(utf8)) }
    }

    func bytes(_ buffer: UnsafeRawBufferPointer) -> amqp_bytes_t {
        if buffer.isEmpty { return sampark_empty_bytes() }
        let target = allocate(byteCount: buffer.count, alignment: 1)
        target.copyMemory(from: buffer.baseAddress!, byteCount: buffer.count)
        return sampark_bytes(target, buffer.count)
    }

    func table(_ values: [String: AMQPFieldValue]) -> amqp_table_t {
        if values.isEmpty { return sampark_empty_table() }
        let entries = allocate(byteCount: MemoryLayout<amqp_table_entry_t>.stride * values.count,
                               alignment: MemoryLayout<amqp_table_entry_t>.alignment)
            .bindMemory(to: amqp_table_entry_t.self, capacity: values.count)
        // Sorted keys: the same headers always encode to the same bytes.
        for (index, key) in values.keys.sorted().enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: field(values[key]!))
        }
        return amqp_table_t(num_entries: Int32(values.count), entries: entries)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let s):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(s)
        case .int(let i):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = i
        case .bool(let b):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = b ? 1 : 0
        case .double(let d):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = d
        case .bytes(let b):
            field.kind = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
            field.value.bytes = b.withUnsafeBytes { bytes($0) }
        case .timestamp(let t):
            field.kind = UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue)
            field.value.u64 = t
        case .array(let values):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let entries = allocate(byteCount: MemoryLayout<amqp_field_value_t>.stride * max(values.count, 1),
                                   alignment: MemoryLayout<amqp_field_value_t>.alignment)
                .bindMemory(to: amqp_field_value_t.self, capacity: max(values.count, 1))
            for (index, element) in values.enumerated() { entries[index] = self.field(element) }
            field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries)
        case .table(let table):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = self.table(table)
        case .void:
            field.kind = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
        }
        return field
    }
}

extension AMQPFieldValue {
    /// Copies a C field value out of rabbitmq-c's pool memory.
    init(_ field: amqp_field_value_t) {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue: self = .string(String(field.value.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue: self = .bytes([UInt8](field.value.bytes))
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: self = .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: self = .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: self = .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: self = .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: self = .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: self = .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: self = .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: self = .int(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: self = .int(Int64(bitPattern: field.value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: self = .double(Double(field.value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: self = .double(field.value.f64)
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: self = .timestamp(field.value.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: self = .table([String: AMQPFieldValue](field.value.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let array = field.value.array
            var values: [AMQPFieldValue] = []
            values.reserveCapacity(Int(array.num_entries))
            for index in 0..<Int(array.num_entries) { values.append(AMQPFieldValue(array.entries[index])) }
            self = .array(values)
        default: self = .void
        }
    }
}

extension Dictionary where Key == String, Value == AMQPFieldValue {
    init(_ table: amqp_table_t) {
        self.init(minimumCapacity: Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = table.entries[index]
            self[String(entry.key)] = AMQPFieldValue(entry.value)
        }
    }
}

extension String {
    init(_ bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else { self = ""; return }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    init(_ bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else { self = []; return }
        self = Array(UnsafeRawBufferPointer(start: base, count: bytes.len))
    }
}
