// Per-subject state: feed it every datagram, it tells you what changed.
//
// - A names message (OSC compact) or `static` (ZeroMQ) gives a subject its curve names;
//   a Live Link Face packet brings its own 61 names.
// - A frame is used only when its rig space equals the names' space and it holds exactly
//   one value per name. Otherwise it is dropped and counted, and the subject's later frames
//   are dropped too until the next names message (sent every second) says what they mean.
// - A names message of an unknown schema version is dropped; the first one is flagged so the
//   caller can tell its user once.
// - Malformed datagrams are dropped and counted by reason; nothing is ever read out of bounds.
//
// Memory is bounded: at most MaxSubjects subjects of at most TrackerMaxCurves curves are
// kept, names are at most TrackerMaxNameBytes long, and a frame never creates a subject.
// Steady state allocates nothing: values and names reuse their buffers.
#pragma once

#include "EmoRigCore/Compact.h"
#include "EmoRigCore/FrameTime.h"
#include "EmoRigCore/LiveLinkFace.h"
#include "EmoRigCore/Reason.h"
#include "EmoRigCore/Zmq.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace emorig
{

// Unreal's FName holds at most 1023 characters; MetaHuman's longest curve name is ~45 bytes.
constexpr size_t TrackerMaxNameBytes = 255;
// MetaHuman has 251 curves; a names datagram could otherwise declare ~16000 one-letter names.
constexpr size_t TrackerMaxCurves = 4096;

enum class SourceFormat : uint8_t { OscCompact, LiveLinkFace, Zmq };

struct SubjectState
{
    uint32_t Id = 0;  // creation order; stable for the tracker's lifetime (until Reset)
    std::string Name;
    SourceFormat Format = SourceFormat::OscCompact;
    // What the values mean.
    std::string Space;
    std::vector<std::string> Curves;
    double Fps = 0.0;
    FrameRate Rate;
    uint32_t NamesGeneration = 0;  // bumped whenever Space or Curves change
    bool bHasNames = false;
    bool bAwaitingNames = false;
    // The latest frame used.
    std::vector<float> Values;
    int64_t Number = 0;
    double Time = 0.0;  // audio-clock seconds
    bool bHasEmotion = false;
    std::string Emotion;
    float Intensity = 0.0f;
    float Probs[EmotionCount] = {};
    // Counters.
    uint64_t Frames = 0;
    uint64_t Dropped = 0;
};

struct TrackerStats
{
    uint64_t Datagrams = 0;      // everything fed in
    uint64_t NamesMessages = 0;  // names / static messages used
    uint64_t Frames = 0;         // frames used
    uint64_t Filtered = 0;       // well-formed, but for a subject the filter leaves out
    uint64_t Ignored = 0;        // well-formed, of a kind this reader does not use
    uint64_t Dropped[ReasonCount] = {};

    uint64_t DroppedTotal() const
    {
        uint64_t Sum = 0;
        for (uint64_t N : Dropped) Sum += N;
        return Sum;
    }
};

struct TrackResult
{
    enum class EUpdate : uint8_t { None, Names, Frame };
    EUpdate Update = EUpdate::None;
    Reason Drop = Reason::Ok;         // why it was dropped; Ok when used, filtered or ignored
    SubjectState* Subject = nullptr;  // the subject concerned, when known and kept
    bool bNamesChanged = false;       // Subject's space or curves changed: republish them
    bool bFiltered = false;
    bool bFirstUnsupportedSchema = false;  // the first message of an unknown schema: tell the user
    int64_t UnsupportedSchema = 0;
};

// Subject filter: comma-separated patterns with * and ? wildcards; empty means every subject.
// "Ada, Bob*" keeps Ada and every subject starting with Bob.
inline bool GlobMatch(std::string_view Pattern, std::string_view Text)
{
    size_t P = 0, T = 0, StarP = std::string_view::npos, StarT = 0;
    while (T < Text.size())
    {
        if (P < Pattern.size() && (Pattern[P] == '?' || Pattern[P] == Text[T]))
        {
            ++P;
            ++T;
        }
        else if (P < Pattern.size() && Pattern[P] == '*')
        {
            StarP = P++;
            StarT = T;
        }
        else if (StarP != std::string_view::npos)
        {
            P = StarP + 1;
            T = ++StarT;
        }
        else
        {
            return false;
        }
    }
    while (P < Pattern.size() && Pattern[P] == '*') ++P;
    return P == Pattern.size();
}

class Tracker
{
public:
    explicit Tracker(size_t InMaxSubjects = 64) : MaxSubjects(InMaxSubjects) {}

    void SetSubjectFilter(std::string_view Filter)
    {
        Patterns.clear();
        size_t Start = 0;
        while (Start <= Filter.size())
        {
            size_t End = Filter.find(',', Start);
            if (End == std::string_view::npos) End = Filter.size();
            std::string_view Part = Filter.substr(Start, End - Start);
            while (!Part.empty() && (Part.front() == ' ' || Part.front() == '\t')) Part.remove_prefix(1);
            while (!Part.empty() && (Part.back() == ' ' || Part.back() == '\t')) Part.remove_suffix(1);
            if (!Part.empty()) Patterns.emplace_back(Part);
            Start = End + 1;
        }
    }

    bool SubjectAllowed(std::string_view Subject) const
    {
        if (Patterns.empty()) return true;
        for (const std::string& P : Patterns)
        {
            if (GlobMatch(P, Subject)) return true;
        }
        return false;
    }

    // One UDP datagram: OSC compact ('/' or '#' first) or Live Link Face (version byte 6).
    TrackResult OnDatagram(const uint8_t* Data, size_t Size)
    {
        ++Stat.Datagrams;
        if (Size > 0 && (Data[0] == '/' || Data[0] == '#'))
        {
            CompactMessage M;
            const Reason R = DecodeOscCompact(Data, Size, M);
            if (R == Reason::UnsupportedSchema) return OnUnsupportedSchema(M.Names.Subject, M.Names.Schema);
            if (R != Reason::Ok) return DropDatagram(R);
            if (M.Kind == CompactMessage::EKind::Names)
            {
                const CompactNames& N = M.Names;
                return OnNames(N.Subject, SourceFormat::OscCompact, N.Space, double(N.Fps), N.CurveCount,
                               [&](auto&& Fn) { N.ForEachCurveName(Fn); });
            }
            const CompactFrame& F = M.Frame;
            SubjectState* S = nullptr;
            TrackResult Result = CheckFrame(F.Subject, F.Space, F.ValueCount, S);
            if (S == nullptr || Result.Drop != Reason::Ok) return Result;
            S->Values.resize(F.ValueCount);
            F.CopyValues(S->Values.data());
            S->Number = F.Number;
            S->Time = F.Time;
            S->bHasEmotion = F.bHasEmotion;
            if (F.bHasEmotion)
            {
                S->Emotion.assign(F.Emotion.data(), F.Emotion.size());
                S->Intensity = F.Intensity;
                for (size_t I = 0; I < EmotionCount; ++I) S->Probs[I] = F.Probs[I];
            }
            return UseFrame(S);
        }
        if (Size > 0 && Data[0] == LiveLinkFaceVersion)
        {
            LiveLinkFacePacket P;
            const Reason R = DecodeLiveLinkFace(Data, Size, P);
            if (R != Reason::Ok) return DropDatagram(R);
            const double Fps = double(P.RateNumerator) / double(P.RateDenominator);
            const char* const* Names = LiveLinkFaceCurveNames();
            TrackResult Result = OnNames(P.Subject, SourceFormat::LiveLinkFace, "livelinkface", Fps,
                                         LiveLinkFaceCurveCount, [&](auto&& Fn) {
                                             for (size_t I = 0; I < LiveLinkFaceCurveCount; ++I) Fn(std::string_view(Names[I]));
                                         });
            SubjectState* S = Result.Subject;
            if (S == nullptr || Result.Drop != Reason::Ok || Result.bFiltered) return Result;
            --Stat.NamesMessages;  // the names came with the frame; count it as a frame only
            S->Rate = FrameRate{P.RateNumerator, P.RateDenominator};
            S->Values.resize(LiveLinkFaceCurveCount);
            for (size_t I = 0; I < LiveLinkFaceCurveCount; ++I) S->Values[I] = P.Value(I);
            S->Number = P.FrameNumber;
            S->Time = P.Seconds();
            S->bHasEmotion = false;
            TrackResult Used = UseFrame(S);
            Used.bNamesChanged = Result.bNamesChanged;
            return Used;
        }
        return DropDatagram(Size == 0 ? Reason::Truncated : Reason::UnknownFormat);
    }

    // One ZeroMQ payload (the second frame of emorig's two-frame messages).
    TrackResult OnZmqPayload(const uint8_t* Data, size_t Size)
    {
        ++Stat.Datagrams;
        ZmqMessage M;
        const Reason R = DecodeZmq(Data, Size, M);
        if (R == Reason::UnsupportedSchema) return OnUnsupportedSchema(std::string_view(), M.Schema);
        if (R != Reason::Ok) return DropDatagram(R);
        if (M.Kind == ZmqMessage::EKind::Other)
        {
            ++Stat.Ignored;
            return TrackResult();
        }
        if (M.Kind == ZmqMessage::EKind::Static)
        {
            return OnNames(M.Subject, SourceFormat::Zmq, M.Space, M.Fps, M.Curves.Count, [&](auto&& Fn) {
                M.Curves.ForEach([&](const MpValue& V) { Fn(AsText(V.Bytes.data, V.Bytes.size)); });
            });
        }
        SubjectState* S = nullptr;
        TrackResult Result = CheckFrame(M.Subject, M.Space, M.ValueCount, S);
        if (S == nullptr || Result.Drop != Reason::Ok) return Result;
        S->Values.resize(M.ValueCount);
        for (size_t I = 0; I < M.ValueCount; ++I) S->Values[I] = M.Value(I);
        S->Number = M.Number;
        S->Time = M.Time;
        S->bHasEmotion = true;
        S->Emotion.assign(M.Emotion.data(), M.Emotion.size());
        S->Intensity = float(M.Intensity);
        for (size_t I = 0; I < EmotionCount; ++I) S->Probs[I] = float(M.Probs[I]);
        return UseFrame(S);
    }

    const TrackerStats& Stats() const { return Stat; }
    size_t SubjectCount() const { return Subjects.size(); }
    const SubjectState& SubjectAt(size_t I) const { return *Subjects[I]; }

    SubjectState* Find(std::string_view Name)
    {
        for (auto& S : Subjects)
        {
            if (S->Name == Name) return S.get();
        }
        return nullptr;
    }

    // Forgets every subject and counter (e.g. when the user restarts the source).
    void Reset()
    {
        Subjects.clear();
        Stat = TrackerStats();
        bWarnedSchema = false;
    }

private:
    TrackResult DropDatagram(Reason R)
    {
        ++Stat.Dropped[size_t(R)];
        TrackResult Result;
        Result.Drop = R;
        return Result;
    }

    TrackResult DropFrame(SubjectState* S, Reason R)
    {
        TrackResult Result = DropDatagram(R);
        Result.Subject = S;
        if (S != nullptr) ++S->Dropped;
        return Result;
    }

    TrackResult OnUnsupportedSchema(std::string_view Subject, int64_t Schema)
    {
        TrackResult Result = DropDatagram(Reason::UnsupportedSchema);
        Result.UnsupportedSchema = Schema;
        Result.bFirstUnsupportedSchema = !bWarnedSchema;
        bWarnedSchema = true;
        // The subject's old names may no longer describe what its frames hold.
        if (SubjectState* S = Subject.empty() ? nullptr : Find(Subject))
        {
            S->bAwaitingNames = true;
            Result.Subject = S;
        }
        return Result;
    }

    // ForEachName(Fn) calls Fn(std::string_view) for each of the Count curve names.
    template <class G>
    TrackResult OnNames(std::string_view Subject, SourceFormat Format, std::string_view Space, double Fps,
                        size_t Count, G&& ForEachName)
    {
        TrackResult Result;
        if (!SubjectAllowed(Subject))
        {
            ++Stat.Filtered;
            Result.bFiltered = true;
            return Result;
        }
        if (Subject.size() > TrackerMaxNameBytes) return DropDatagram(Reason::NameTooLong);
        if (Count > TrackerMaxCurves) return DropDatagram(Reason::TooManyCurves);
        bool bNamesFit = true;
        ForEachName([&](std::string_view Name) { bNamesFit = bNamesFit && Name.size() <= TrackerMaxNameBytes; });
        if (!bNamesFit) return DropDatagram(Reason::NameTooLong);
        SubjectState* S = Find(Subject);
        if (S == nullptr)
        {
            if (Subjects.size() >= MaxSubjects) return DropDatagram(Reason::TooManySubjects);
            Subjects.push_back(std::make_unique<SubjectState>());
            S = Subjects.back().get();
            S->Id = NextId++;
            S->Name.assign(Subject.data(), Subject.size());
        }
        bool bSame = S->bHasNames && S->Space == Space && S->Curves.size() == Count;
        if (bSame)
        {
            size_t I = 0;
            ForEachName([&](std::string_view Name) { bSame = bSame && S->Curves[I++] == Name; });
        }
        if (!bSame)
        {
            S->Space.assign(Space.data(), Space.size());
            S->Curves.resize(Count);
            size_t I = 0;
            ForEachName([&](std::string_view Name) { S->Curves[I++].assign(Name.data(), Name.size()); });
            ++S->NamesGeneration;
            Result.bNamesChanged = true;
        }
        S->Format = Format;
        S->Fps = Fps;
        S->Rate = FrameRateFraction(Fps);
        S->bHasNames = true;
        S->bAwaitingNames = false;
        ++Stat.NamesMessages;
        Result.Update = TrackResult::EUpdate::Names;
        Result.Subject = S;
        return Result;
    }

    // The checks a frame must pass before its values are copied; S is set when they pass.
    TrackResult CheckFrame(std::string_view Subject, std::string_view Space, size_t ValueCount, SubjectState*& S)
    {
        S = nullptr;
        if (!SubjectAllowed(Subject))
        {
            ++Stat.Filtered;
            TrackResult Result;
            Result.bFiltered = true;
            return Result;
        }
        SubjectState* Found = Find(Subject);
        if (Found == nullptr || !Found->bHasNames) return DropFrame(Found, Reason::NoNames);
        if (Found->bAwaitingNames) return DropFrame(Found, Reason::AwaitingNames);
        if (Found->Space != Space)
        {
            Found->bAwaitingNames = true;
            return DropFrame(Found, Reason::SpaceMismatch);
        }
        if (Found->Curves.size() != ValueCount)
        {
            Found->bAwaitingNames = true;
            return DropFrame(Found, Reason::CountMismatch);
        }
        S = Found;
        TrackResult Result;
        Result.Subject = Found;
        return Result;
    }

    TrackResult UseFrame(SubjectState* S)
    {
        ++S->Frames;
        ++Stat.Frames;
        TrackResult Result;
        Result.Update = TrackResult::EUpdate::Frame;
        Result.Subject = S;
        return Result;
    }

    size_t MaxSubjects;
    std::vector<std::unique_ptr<SubjectState>> Subjects;  // pointers stay valid as the list grows
    std::vector<std::string> Patterns;
    TrackerStats Stat;
    uint32_t NextId = 0;
    bool bWarnedSchema = false;
};

}  // namespace emorig
