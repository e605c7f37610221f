// Why a datagram or frame was not used. The wire-format codes are those of the reference
// decoder (bridge/protocol.py) and the golden vectors; the last group belongs to the state
// tracker (a well-formed frame that cannot be used yet).
#pragma once

#include <cstddef>
#include <cstdint>

namespace emorig
{

enum class Reason : uint8_t
{
    Ok = 0,
    // Live Link Face
    Truncated,
    BadVersion,
    BadCount,
    BadNameLength,
    BadUtf8,
    BadFrameRate,
    BadSubFrame,
    NonFiniteValue,
    TrailingBytes,
    // OSC compact
    BadOsc,
    UnknownAddress,
    BadArguments,
    UnsupportedSchema,
    IncompleteFrame,
    MixedSubjects,
    // ZeroMQ msgpack payloads
    NotMsgpack,
    NotAMap,
    MissingField,
    BadField,
    BadValuesLength,
    // state tracker
    UnknownFormat,   // first byte is none of '/', '#' (OSC) or 6 (Live Link Face)
    NoNames,         // a frame for a subject whose names message has not arrived yet
    SpaceMismatch,   // the frame's rig space differs from the names message's
    CountMismatch,   // the frame holds a different number of values than there are names
    AwaitingNames,   // after a mismatch: frames wait for the next names message
    TooManySubjects, // more subjects than the tracker keeps (spoofed names cannot grow memory)
    NameTooLong,     // a subject or curve name over TrackerMaxNameBytes (engines limit name length)
    TooManyCurves,   // a names message with more than TrackerMaxCurves curves
    Count_
};

constexpr size_t ReasonCount = size_t(Reason::Count_);

// The stable snake_case code: "truncated", "bad_osc", "count_mismatch", ...
inline const char* ReasonCode(Reason R)
{
    switch (R)
    {
    case Reason::Ok: return "ok";
    case Reason::Truncated: return "truncated";
    case Reason::BadVersion: return "bad_version";
    case Reason::BadCount: return "bad_count";
    case Reason::BadNameLength: return "bad_name_length";
    case Reason::BadUtf8: return "bad_utf8";
    case Reason::BadFrameRate: return "bad_frame_rate";
    case Reason::BadSubFrame: return "bad_sub_frame";
    case Reason::NonFiniteValue: return "non_finite_value";
    case Reason::TrailingBytes: return "trailing_bytes";
    case Reason::BadOsc: return "bad_osc";
    case Reason::UnknownAddress: return "unknown_address";
    case Reason::BadArguments: return "bad_arguments";
    case Reason::UnsupportedSchema: return "unsupported_schema";
    case Reason::IncompleteFrame: return "incomplete_frame";
    case Reason::MixedSubjects: return "mixed_subjects";
    case Reason::NotMsgpack: return "not_msgpack";
    case Reason::NotAMap: return "not_a_map";
    case Reason::MissingField: return "missing_field";
    case Reason::BadField: return "bad_field";
    case Reason::BadValuesLength: return "bad_values_length";
    case Reason::UnknownFormat: return "unknown_format";
    case Reason::NoNames: return "no_names";
    case Reason::SpaceMismatch: return "space_mismatch";
    case Reason::CountMismatch: return "count_mismatch";
    case Reason::AwaitingNames: return "awaiting_names";
    case Reason::TooManySubjects: return "too_many_subjects";
    case Reason::NameTooLong: return "name_too_long";
    case Reason::TooManyCurves: return "too_many_curves";
    case Reason::Count_: break;
    }
    return "unknown";
}

}  // namespace emorig
