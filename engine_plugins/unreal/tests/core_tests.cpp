// Unit tests of the EmoRig plugin's engine-free core (Source/EmoRigCore), built with g++ and
// run under AddressSanitizer + UndefinedBehaviorSanitizer by tests/test_unreal_core.py.
//
//   core_tests VECTOR_DIR   every golden vector decodes exactly as its .json says (or is
//                           rejected with its reason); every vector truncated at every length
//                           and thousands of random byte flips go through every decoder and
//                           the tracker; the tracker's rules; frame times; the subject filter.
//   core_tests --decode     reads "FORMAT HEX" lines on stdin (FORMAT: llf, compact, zmq) and
//                           prints one canonical line per input (canonical.h), so the Python
//                           test can compare the core with bridge/protocol.py input by input.
#include "EmoRigCore/EmoRigCore.h"

#include "canonical.h"
#include "check.h"
#include "mini_json.h"
#include "osc_builder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

using namespace emorig;
using namespace emorig_test;

namespace
{

struct Vector
{
    std::string Name;
    Bytes Data;
    Json Doc;
    std::string Format;
};

Bytes ReadFile(const std::filesystem::path& Path)
{
    std::ifstream In(Path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(In), std::istreambuf_iterator<char>());
}

std::vector<Vector> LoadVectors(const std::filesystem::path& Dir)
{
    std::vector<Vector> Out;
    for (const auto& Entry : std::filesystem::directory_iterator(Dir))
    {
        if (Entry.path().extension() != ".bin") continue;
        Vector V;
        V.Name = Entry.path().stem().string();
        V.Data = ReadFile(Entry.path());
        const Bytes Text = ReadFile(std::filesystem::path(Entry.path()).replace_extension(".json"));
        JsonParser Parser(std::string_view(reinterpret_cast<const char*>(Text.data()), Text.size()));
        if (!Parser.Parse(V.Doc))
        {
            Fail(__FILE__, __LINE__, "cannot parse " + V.Name + ".json");
            continue;
        }
        V.Format = V.Doc["format"].Text;
        Out.push_back(std::move(V));
    }
    std::sort(Out.begin(), Out.end(), [](const Vector& A, const Vector& B) { return A.Name < B.Name; });
    return Out;
}

std::string Str(std::string_view S) { return std::string(S); }

// Floats in the vectors are exact in float32, so a float32 result must equal the JSON number.
void CheckFloats(size_t Count, const Json& Expected, const std::function<double(size_t)>& Got)
{
    CHECK_EQ(Count, Expected.Items.size());
    for (size_t I = 0; I < std::min(Count, Expected.Items.size()); ++I)
    {
        CHECK_EQ(Got(I), Expected.Items[I].Number);
    }
}

void CheckLiveLinkFaceVector(const Vector& V)
{
    LiveLinkFacePacket P;
    const Reason R = DecodeLiveLinkFace(V.Data.data(), V.Data.size(), P);
    if (!V.Doc["valid"].Bool)
    {
        CHECK_EQ(Str(ReasonCode(R)), V.Doc["reason"].Text);
        return;
    }
    CHECK_EQ(Str(ReasonCode(R)), Str("ok"));
    const Json& D = V.Doc["decoded"];
    CHECK_EQ(int(P.Version), int(D["version"].Number));
    CHECK_EQ(Str(P.DeviceId), D["device_id"].Text);
    CHECK_EQ(Str(P.Subject), D["subject"].Text);
    CHECK_EQ(int64_t(P.FrameNumber), D["frame_number"].AsI64());
    CHECK_EQ(double(P.SubFrame), D["sub_frame"].Number);
    CHECK_EQ(int64_t(P.RateNumerator), D["fps_numerator"].AsI64());
    CHECK_EQ(int64_t(P.RateDenominator), D["fps_denominator"].AsI64());
    CheckFloats(LiveLinkFaceCurveCount, D["values"], [&](size_t I) { return double(P.Value(I)); });
    if (const Json* Curves = V.Doc.Get("curves"))
    {
        CHECK_EQ(Curves->Items.size(), LiveLinkFaceCurveCount);
        for (size_t I = 0; I < std::min(Curves->Items.size(), LiveLinkFaceCurveCount); ++I)
        {
            CHECK_EQ(Str(LiveLinkFaceCurveNames()[I]), Curves->Items[I].Text);
        }
    }
}

// The plain OSC reading any OSC library should produce ("osc" in the vector's JSON).
void CheckGenericOsc(const Vector& V)
{
    const Json& Osc = V.Doc["osc"];
    const Json& Messages = Osc["messages"];
    size_t Index = 0;
    const Reason R = ForEachOscMessage(V.Data.data(), V.Data.size(), [&](const OscMessage& M, const uint64_t* Tag) {
        if (Osc["timetag"].IsNull()) CHECK_TRUE(Tag == nullptr);
        else CHECK_TRUE(Tag != nullptr && *Tag == Osc["timetag"].AsU64());
        if (Index >= Messages.Items.size())
        {
            Fail(__FILE__, __LINE__, "more messages than expected");
            return false;
        }
        const Json& E = Messages.Items[Index++];
        CHECK_EQ(Str(M.Address), E["address"].Text);
        CHECK_EQ("," + Str(M.Tags), E["types"].Text);
        OscArgReader Args(M);
        OscArg A;
        size_t K = 0;
        while (Args.Next(A))
        {
            if (K >= E["args"].Items.size()) break;
            const Json& X = E["args"].Items[K++];
            switch (A.Tag)
            {
            case 'i': CHECK_EQ(int64_t(A.I32), X.AsI64()); break;
            case 'f': CHECK_EQ(double(A.F32), X.Number); break;
            case 'd': CHECK_EQ(A.F64, X.Number); break;
            case 's': CHECK_EQ(Str(A.Str), X.Text); break;
            default: Fail(__FILE__, __LINE__, std::string("unexpected tag ") + A.Tag);
            }
        }
        CHECK_EQ(K, E["args"].Items.size());
        CHECK_TRUE(Args.FinishedCleanly());
        return true;
    });
    CHECK_EQ(Str(ReasonCode(R)), Str("ok"));
    CHECK_EQ(Index, Messages.Items.size());
}

void CheckCompactVector(const Vector& V)
{
    CompactMessage M;
    const Reason R = DecodeOscCompact(V.Data.data(), V.Data.size(), M);
    if (!V.Doc["valid"].Bool)
    {
        CHECK_EQ(Str(ReasonCode(R)), V.Doc["reason"].Text);
        return;
    }
    CheckGenericOsc(V);
    CHECK_EQ(Str(ReasonCode(R)), Str("ok"));
    const Json& D = V.Doc["decoded"];
    if (D["type"].Text == "names")
    {
        CHECK_TRUE(M.Kind == CompactMessage::EKind::Names);
        CHECK_EQ(int64_t(M.Names.Schema), D["schema"].AsI64());
        CHECK_EQ(Str(M.Names.Subject), D["subject"].Text);
        CHECK_EQ(Str(M.Names.Space), D["space"].Text);
        CHECK_EQ(double(M.Names.Fps), D["fps"].Number);
        CHECK_EQ(M.Names.CurveCount, D["curves"].Items.size());
        size_t I = 0;
        M.Names.ForEachCurveName([&](std::string_view C) {
            if (I < D["curves"].Items.size()) CHECK_EQ(Str(C), D["curves"].Items[I].Text);
            ++I;
        });
        CHECK_EQ(I, D["curves"].Items.size());
        return;
    }
    CHECK_TRUE(M.Kind == CompactMessage::EKind::Frame);
    const CompactFrame& F = M.Frame;
    CHECK_EQ(F.TimeTag, D["timetag"].AsU64());
    CHECK_EQ(Str(F.Subject), D["subject"].Text);
    CHECK_EQ(int64_t(F.Number), D["number"].AsI64());
    CHECK_EQ(F.Time, D["time"].Number);
    CHECK_EQ(Str(F.Space), D["space"].Text);
    CheckFloats(F.ValueCount, D["values"], [&](size_t I) { return double(F.Value(I)); });
    CHECK_EQ(F.bHasEmotion, D.Get("emotion") != nullptr);
    if (F.bHasEmotion)
    {
        CHECK_EQ(Str(F.Emotion), D["emotion"].Text);
        CHECK_EQ(double(F.Intensity), D["intensity"].Number);
        CheckFloats(EmotionCount, D["emotion_probs"], [&](size_t I) { return double(F.Probs[I]); });
    }
}

void CheckZmqVector(const Vector& V)
{
    ZmqMessage M;
    const Reason R = DecodeZmq(V.Data.data(), V.Data.size(), M);
    if (!V.Doc["valid"].Bool)
    {
        CHECK_EQ(Str(ReasonCode(R)), V.Doc["reason"].Text);
        return;
    }
    CHECK_EQ(Str(ReasonCode(R)), Str("ok"));
    const Json& D = V.Doc["decoded"];
    CHECK_EQ(Str(M.Type), D["type"].Text);
    CHECK_EQ(M.Schema, D["schema"].AsI64());
    if (M.Kind == ZmqMessage::EKind::Other)
    {
        CHECK_EQ(D.Members.size(), size_t(2));
        return;
    }
    CHECK_EQ(Str(M.Subject), D["subject"].Text);
    CHECK_EQ(Str(M.Space), D["space"].Text);
    auto CheckStrings = [&](const MsgpackArrayRef& A, const Json& Expected) {
        CHECK_EQ(size_t(A.Count), Expected.Items.size());
        size_t I = 0;
        A.ForEach([&](const MpValue& X) {
            if (I < Expected.Items.size()) CHECK_EQ(Str(AsText(X.Bytes.data, X.Bytes.size)), Expected.Items[I].Text);
            ++I;
        });
    };
    if (M.Kind == ZmqMessage::EKind::Static)
    {
        CHECK_EQ(M.Fps, D["fps"].Number);
        CheckStrings(M.Curves, D["curves"]);
        CheckStrings(M.Emotions, D["emotions"]);
        return;
    }
    CHECK_EQ(M.Number, D["number"].AsI64());
    CHECK_EQ(M.Time, D["time"].Number);
    CheckFloats(M.ValueCount, D["values"], [&](size_t I) { return double(M.Value(I)); });
    CHECK_EQ(Str(M.Emotion), D["emotion"].Text);
    CheckFloats(EmotionCount, D["emotion_probs"], [&](size_t I) { return M.Probs[I]; });
    CHECK_EQ(M.Intensity, D["intensity"].Number);
}

void TestVectors(const std::vector<Vector>& Vectors)
{
    size_t Seen = 0;
    for (const Vector& V : Vectors)
    {
        Context() = V.Name;
        ++Seen;
        if (V.Format == "livelinkface") CheckLiveLinkFaceVector(V);
        else if (V.Format == "osc-compact") CheckCompactVector(V);
        else if (V.Format == "osc-curves" || V.Format == "osc-vrchat")
        {
            CheckGenericOsc(V);
            CompactMessage M;  // other OSC modes are not compact-mode datagrams
            CHECK_TRUE(DecodeOscCompact(V.Data.data(), V.Data.size(), M) != Reason::Ok);
        }
        else if (V.Format == "zmq") CheckZmqVector(V);
        else Fail(__FILE__, __LINE__, "unknown format " + V.Format);
    }
    Context().clear();
    CHECK_TRUE(Seen >= 25);  // the vector folder was found and read
}

// Every decoder and the tracker on one input: must not crash or read out of bounds (the
// sanitizers watch), and whatever it accepts must be self-consistent.
void RunEverything(const uint8_t* Data, size_t Size, Tracker& T)
{
    LiveLinkFacePacket P;
    if (DecodeLiveLinkFace(Data, Size, P) == Reason::Ok)
    {
        CHECK_TRUE(P.SubFrame >= 0.0f && P.SubFrame < 1.0f && P.RateNumerator > 0 && P.RateDenominator > 0);
    }
    CompactMessage M;
    if (DecodeOscCompact(Data, Size, M) == Reason::Ok && M.Kind == CompactMessage::EKind::Frame)
    {
        for (size_t I = 0; I < M.Frame.ValueCount; ++I) CHECK_TRUE(std::isfinite(M.Frame.Value(I)));
    }
    ZmqMessage Z;
    if (DecodeZmq(Data, Size, Z) == Reason::Ok && Z.Kind == ZmqMessage::EKind::Frame)
    {
        for (size_t I = 0; I < Z.ValueCount; ++I) CHECK_TRUE(std::isfinite(Z.Value(I)));
    }
    size_t Messages = 0;
    ForEachOscMessage(Data, Size, [&](const OscMessage& Msg, const uint64_t*) {
        OscArgReader Args(Msg);
        OscArg A;
        while (Args.Next(A)) {}
        CHECK_TRUE(Args.FinishedCleanly());
        ++Messages;
        return true;
    });
    const TrackResult R1 = T.OnDatagram(Data, Size);
    if (R1.Update == TrackResult::EUpdate::Frame)
    {
        CHECK_TRUE(R1.Subject != nullptr && R1.Subject->Values.size() == R1.Subject->Curves.size());
    }
    T.OnZmqPayload(Data, Size);
}

// Simple deterministic generator, so a failure reproduces.
struct Rng
{
    uint64_t State;
    uint64_t Next()
    {
        State ^= State << 13;
        State ^= State >> 7;
        State ^= State << 17;
        return State;
    }
    size_t Below(size_t N) { return size_t(Next() % N); }
};

void TestTruncationsAndFlips(const std::vector<Vector>& Vectors)
{
    Rng R{0x9E3779B97F4A7C15ull};
    size_t Inputs = 0;
    for (const Vector& V : Vectors)
    {
        Context() = V.Name + " mutated";
        Tracker T;
        // Prime the tracker with names so mutated frames reach the deeper checks.
        for (const Vector& W : Vectors)
        {
            if (W.Name == "osc_compact_names" || W.Name == "zmq_static")
            {
                T.OnDatagram(W.Data.data(), W.Data.size());
                T.OnZmqPayload(W.Data.data(), W.Data.size());
            }
        }
        for (size_t Len = 0; Len < V.Data.size(); ++Len)
        {
            // A copy of exactly Len bytes: ASan flags any read past the cut.
            const Bytes Cut(V.Data.begin(), V.Data.begin() + std::ptrdiff_t(Len));
            RunEverything(Cut.data(), Cut.size(), T);
            ++Inputs;
            LiveLinkFacePacket P;
            if (V.Format == "livelinkface" && V.Doc["valid"].Bool) CHECK_TRUE(DecodeLiveLinkFace(Cut.data(), Cut.size(), P) != Reason::Ok);
            ZmqMessage Z;
            if (V.Format == "zmq" && V.Doc["valid"].Bool) CHECK_TRUE(DecodeZmq(Cut.data(), Cut.size(), Z) != Reason::Ok);
            CompactMessage M;
            if (V.Name == "osc_compact_names") CHECK_TRUE(DecodeOscCompact(Cut.data(), Cut.size(), M) != Reason::Ok);
        }
        for (int K = 0; K < 1500; ++K)
        {
            Bytes Mutated = V.Data;
            if (Mutated.empty()) break;
            const size_t Flips = 1 + R.Below(4);
            for (size_t F = 0; F < Flips; ++F)
            {
                const size_t At = R.Below(Mutated.size());
                // Mostly small changes near the original (lengths, counts, tags), sometimes any byte.
                Mutated[At] = R.Below(4) == 0 ? uint8_t(R.Next()) : uint8_t(Mutated[At] ^ (1u << R.Below(8)));
            }
            if (R.Below(8) == 0) Mutated.resize(R.Below(Mutated.size() + 1));
            RunEverything(Mutated.data(), Mutated.size(), T);
            ++Inputs;
        }
    }
    Rng G{42};
    Tracker T;
    for (int K = 0; K < 20000; ++K)
    {
        Bytes Garbage(G.Below(600));
        for (uint8_t& B : Garbage) B = uint8_t(G.Next());
        if (!Garbage.empty() && G.Below(3) == 0) Garbage[0] = static_cast<uint8_t>("/#\x06\x82"[G.Below(4)]);  // steer into each decoder
        RunEverything(Garbage.data(), Garbage.size(), T);
        ++Inputs;
    }
    Context().clear();
    CHECK_TRUE(Inputs > 50000);
    std::printf("robustness: %zu mutated, truncated or random inputs\n", Inputs);
}

void TestOscReader()
{
    Context() = "osc reader";
    const Bytes Blob = {1, 2, 3, 4, 5};
    const Bytes Msg = OscMsg("/all/types")
                          .I(-7).F(0.5f).D(2.25).S("text").H(-1234567890123ll).T(99).B(Blob)
                          .Tag('T').Tag('F').Tag('N').Tag('I').Tag('[').I(1).I(2).Tag(']')
                          .Build();
    OscMessage M;
    CHECK_EQ(Str(ReasonCode(ParseOscMessage(Msg.data(), Msg.size(), M))), Str("ok"));
    CHECK_EQ(Str(M.Address), Str("/all/types"));
    OscArgReader Args(M);
    OscArg A;
    std::string Tags;
    while (Args.Next(A))
    {
        Tags += A.Tag;
        if (A.Tag == 'i' && Tags.size() == 1) CHECK_EQ(A.I32, -7);
        if (A.Tag == 'f') CHECK_EQ(A.F32, 0.5f);
        if (A.Tag == 'd') CHECK_EQ(A.F64, 2.25);
        if (A.Tag == 's') CHECK_EQ(Str(A.Str), Str("text"));
        if (A.Tag == 'h') CHECK_EQ(A.I64, -1234567890123ll);
        if (A.Tag == 't') CHECK_EQ(A.U64, uint64_t(99));
        if (A.Tag == 'b') CHECK_TRUE(A.Blob.size == 5 && A.Blob.data[4] == 5);
        if (A.Tag == 'T') CHECK_TRUE(A.Bool);
    }
    CHECK_EQ(Tags, Str("ifdshtbTFNI[ii]"));
    CHECK_TRUE(Args.FinishedCleanly());

    auto Rejects = [](const Bytes& B) {
        OscMessage X;
        return ParseOscMessage(B.data(), B.size(), X) == Reason::BadOsc;
    };
    CHECK_TRUE(Rejects(OscMsg("/x").Tag('[').Build()));            // unclosed array
    CHECK_TRUE(Rejects(OscMsg("/x").Tag(']').Build()));            // stray close
    CHECK_TRUE(Rejects(OscMsg("/x").Tag('?').Build()));            // unknown type: size unknown
    CHECK_TRUE(Rejects(OscMsg("x").Build()));                      // address must start with '/'
    Bytes Trailing = OscMsg("/x").I(1).Build();
    Trailing.insert(Trailing.end(), 4, 0);
    CHECK_TRUE(Rejects(Trailing));                                 // bytes after the arguments
    Bytes BadPad = OscMsg("/x").S("a").Build();
    BadPad[BadPad.size() - 1] = 'z';
    CHECK_TRUE(Rejects(BadPad));                                   // padding must be zeros
    Bytes NoTags;
    PutOscString(NoTags, "/x");
    CHECK_TRUE(Rejects(NoTags));                                   // type tag string required
    Bytes Latin1 = OscMsg("/x").S("\xE9").Build();
    CHECK_TRUE(Rejects(Latin1));                                   // strings are UTF-8

    // Nested bundles are walked (to a limit), with the innermost time tag.
    const Bytes Inner = OscBundle(7, {OscMsg("/in").I(1).Build()});
    const Bytes Outer = OscBundle(5, {OscMsg("/out").Build(), Inner});
    std::vector<std::pair<std::string, uint64_t>> Seen;
    CHECK_EQ(Str(ReasonCode(ForEachOscMessage(Outer.data(), Outer.size(), [&](const OscMessage& X, const uint64_t* T) {
                 Seen.emplace_back(Str(X.Address), T ? *T : 0);
                 return true;
             }))),
             Str("ok"));
    CHECK_EQ(Seen.size(), size_t(2));
    if (Seen.size() == 2)
    {
        CHECK_TRUE(Seen[0] == std::make_pair(Str("/out"), uint64_t(5)));
        CHECK_TRUE(Seen[1] == std::make_pair(Str("/in"), uint64_t(7)));
    }
    Bytes Deep = OscMsg("/deep").Build();
    for (int I = 0; I < OscMaxBundleDepth + 1; ++I) Deep = OscBundle(1, {Deep});
    CHECK_TRUE(ValidateOscPacket(Deep.data(), Deep.size()) == Reason::BadOsc);
    // Fn never sees a message of a packet that turns out bad.
    Bytes HalfBad = OscBundle(1, {OscMsg("/ok").Build(), OscMsg("/x").Tag('?').Build()});
    bool bCalled = false;
    ForEachOscMessage(HalfBad.data(), HalfBad.size(), [&](const OscMessage&, const uint64_t*) { return bCalled = true; });
    CHECK_TRUE(!bCalled);
    Context().clear();
}

void TestCompactRules()
{
    Context() = "compact rules";
    auto Code = [](const Bytes& B) {
        CompactMessage M;
        return Str(ReasonCode(DecodeOscCompact(B.data(), B.size(), M)));
    };
    const std::vector<float> Three = {0.0f, 0.5f, 1.0f};
    CHECK_EQ(Code(MakeFrame("Ada", 1, 0.1, "arkit", Three)), Str("ok"));
    // Unknown messages in a frame bundle and trailing arguments are ignored (versioning rules).
    const Bytes Frame = OscMsg("/emorig/Ada/frame").I(1).D(0.1).S("arkit").S("future").Build();
    const Bytes Values = OscMsg("/emorig/Ada/values").F(0.5f).Build();
    const Bytes Extra = OscMsg("/emorig/Ada/visemes").S("aa").Build();
    CHECK_EQ(Code(OscBundle(1, {Frame, Extra, Values})), Str("ok"));
    // The emotion message is optional.
    CHECK_EQ(Code(OscBundle(1, {Frame, Values})), Str("ok"));
    CHECK_EQ(Code(OscBundle(1, {Frame})), Str("incomplete_frame"));
    CHECK_EQ(Code(OscBundle(1, {Frame, OscMsg("/emorig/Bob/values").F(0.5f).Build()})), Str("mixed_subjects"));
    CHECK_EQ(Code(OscBundle(1, {OscMsg("/emorig/Ada/frame").I(1).F(0.1f).S("arkit").Build(), Values})),
             Str("bad_arguments"));
    CHECK_EQ(Code(OscBundle(1, {Frame, OscMsg("/emorig/Ada/values").F(0.5f).I(1).Build()})), Str("bad_arguments"));
    CHECK_EQ(Code(OscBundle(1, {Frame, OscMsg("/emorig/Ada/values").F(NAN).Build()})), Str("non_finite_value"));
    CHECK_EQ(Code(OscBundle(1, {Frame, Values, OscMsg("/emorig/Ada/emotion").S("happy").F(0.5f).Build()})),
             Str("bad_arguments"));
    CHECK_EQ(Code(OscBundle(1, {Frame, Values, OscBundle(1, {Values})})), Str("bad_osc"));  // nested bundle
    CHECK_EQ(Code(MakeNames("Ada", "arkit", 60.0f, {"a", "b"})), Str("ok"));
    CHECK_EQ(Code(MakeNames("Ada", "arkit", 60.0f, {"a"}, 2)), Str("unsupported_schema"));
    CHECK_EQ(Code(OscMsg("/emorig/Ada/names").I(1).S("arkit").F(60.0f).S("a").I(3).Build()), Str("bad_arguments"));
    CHECK_EQ(Code(OscMsg("/emorig/Ada/names").S("arkit").Build()), Str("bad_arguments"));
    CHECK_EQ(Code(OscMsg("/emorig/Ada/other").I(1).Build()), Str("unknown_address"));
    CHECK_EQ(Code(OscMsg("/emorig//names").I(1).S("arkit").F(60.0f).Build()), Str("unknown_address"));
    CHECK_EQ(Code(OscMsg("/other/Ada/names").I(1).S("arkit").F(60.0f).Build()), Str("unknown_address"));
    Context().clear();
}

void TestTracker(const std::vector<Vector>& Vectors)
{
    Context() = "tracker";
    Tracker T(3);
    auto Feed = [&](const Bytes& B) { return T.OnDatagram(B.data(), B.size()); };
    const std::vector<std::string> Abc = {"a", "b", "c"};

    TrackResult R = Feed(MakeFrame("Ada", 1, 0.0, "arkit", {1, 2, 3}));
    CHECK_EQ(Str(ReasonCode(R.Drop)), Str("no_names"));
    CHECK_EQ(T.SubjectCount(), size_t(0));  // frames never create subjects

    R = Feed(MakeNames("Ada", "arkit", 60.0f, Abc));
    CHECK_TRUE(R.Update == TrackResult::EUpdate::Names && R.bNamesChanged && R.Subject != nullptr);
    SubjectState* Ada = T.Find("Ada");
    CHECK_TRUE(Ada != nullptr);
    if (Ada == nullptr) return;
    CHECK_EQ(Ada->Curves.size(), size_t(3));
    CHECK_EQ(Ada->NamesGeneration, 1u);
    CHECK_TRUE(Ada->Rate.Numerator == 60 && Ada->Rate.Denominator == 1);

    R = Feed(MakeNames("Ada", "arkit", 60.0f, Abc));  // the once-a-second repeat
    CHECK_TRUE(R.Update == TrackResult::EUpdate::Names && !R.bNamesChanged);
    CHECK_EQ(Ada->NamesGeneration, 1u);

    R = Feed(MakeFrame("Ada", 7, 0.125, "arkit", {0.25f, 0.5f, 0.75f}, "sad", 0.75f));
    CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame && R.Subject == Ada);
    CHECK_TRUE(Ada->Values == std::vector<float>({0.25f, 0.5f, 0.75f}));
    CHECK_EQ(Ada->Number, int64_t(7));
    CHECK_EQ(Ada->Time, 0.125);
    CHECK_EQ(Ada->Emotion, Str("sad"));
    CHECK_EQ(Ada->Intensity, 0.75f);

    // A frame that does not match the names is dropped, and so are the next ones until the
    // next names message.
    R = Feed(MakeFrame("Ada", 8, 0.14, "arkit", {0.1f, 0.2f}));
    CHECK_EQ(Str(ReasonCode(R.Drop)), Str("count_mismatch"));
    R = Feed(MakeFrame("Ada", 9, 0.15, "arkit", {0.1f, 0.2f, 0.3f}));
    CHECK_EQ(Str(ReasonCode(R.Drop)), Str("awaiting_names"));
    CHECK_TRUE(Ada->Values == std::vector<float>({0.25f, 0.5f, 0.75f}));  // untouched
    Feed(MakeNames("Ada", "arkit", 60.0f, Abc));
    R = Feed(MakeFrame("Ada", 10, 0.16, "arkit", {0.1f, 0.2f, 0.3f}));
    CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame);
    R = Feed(MakeFrame("Ada", 11, 0.17, "metahuman", {0.1f, 0.2f, 0.3f}));
    CHECK_EQ(Str(ReasonCode(R.Drop)), Str("space_mismatch"));
    CHECK_EQ(Ada->Dropped, uint64_t(3));

    // New curves: a new generation, published again.
    R = Feed(MakeNames("Ada", "metahuman", 30.0f, {"CTRL_expressions_jawOpen", "CTRL_expressions_eyeBlinkL"}));
    CHECK_TRUE(R.bNamesChanged && Ada->NamesGeneration == 2u && Ada->Space == "metahuman");
    R = Feed(MakeFrame("Ada", 12, 0.4, "metahuman", {0.5f, 0.0f}));
    CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame);

    // An unknown schema: dropped, flagged once, and the subject waits for names it can read.
    R = Feed(MakeNames("Ada", "arkit", 60.0f, Abc, 2));
    CHECK_TRUE(R.Drop == Reason::UnsupportedSchema && R.bFirstUnsupportedSchema && R.UnsupportedSchema == 2);
    R = Feed(MakeNames("Ada", "arkit", 60.0f, Abc, 2));
    CHECK_TRUE(R.Drop == Reason::UnsupportedSchema && !R.bFirstUnsupportedSchema);
    R = Feed(MakeFrame("Ada", 13, 0.5, "metahuman", {0.5f, 0.0f}));
    CHECK_EQ(Str(ReasonCode(R.Drop)), Str("awaiting_names"));

    // The subject filter.
    T.SetSubjectFilter(" Ada , Cy* ");
    R = Feed(MakeNames("Bob", "arkit", 60.0f, Abc));
    CHECK_TRUE(R.bFiltered && T.Find("Bob") == nullptr);
    R = Feed(MakeFrame("Bob", 1, 0.0, "arkit", {1, 2, 3}));
    CHECK_TRUE(R.bFiltered && R.Drop == Reason::Ok);
    CHECK_TRUE(Feed(MakeNames("Cyd", "arkit", 60.0f, Abc)).Update == TrackResult::EUpdate::Names);
    T.SetSubjectFilter("");

    // Memory is bounded: a fourth subject is refused (this tracker keeps 3).
    CHECK_TRUE(Feed(MakeNames("Dee", "arkit", 60.0f, Abc)).Update == TrackResult::EUpdate::Names);
    CHECK_EQ(Str(ReasonCode(Feed(MakeNames("Eve", "arkit", 60.0f, Abc)).Drop)), Str("too_many_subjects"));
    CHECK_EQ(T.SubjectCount(), size_t(3));

    // Names an engine cannot hold are refused before they cost memory.
    CHECK_EQ(Str(ReasonCode(Feed(MakeNames("Ada", "arkit", 60.0f, {std::string(256, 'x')})).Drop)), Str("name_too_long"));
    CHECK_EQ(Str(ReasonCode(Feed(MakeNames(std::string(256, 'A'), "arkit", 60.0f, Abc)).Drop)), Str("name_too_long"));
    CHECK_EQ(Str(ReasonCode(Feed(MakeNames("Ada", "arkit", 60.0f, std::vector<std::string>(TrackerMaxCurves + 1, "c"))).Drop)),
             Str("too_many_curves"));
    CHECK_EQ(T.Find("Ada")->NamesGeneration, 2u);  // untouched by the refused ones

    CHECK_EQ(Str(ReasonCode(Feed(Bytes{0x42, 1, 2, 3}).Drop)), Str("unknown_format"));
    CHECK_EQ(Str(ReasonCode(Feed(Bytes{}).Drop)), Str("truncated"));
    const TrackerStats& S = T.Stats();
    CHECK_EQ(S.Dropped[size_t(Reason::CountMismatch)], uint64_t(1));
    CHECK_EQ(S.Dropped[size_t(Reason::UnsupportedSchema)], uint64_t(2));
    CHECK_EQ(S.Filtered, uint64_t(2));
    CHECK_EQ(S.Frames, uint64_t(3));

    // The golden vectors through a fresh tracker: Live Link Face, compact, ZeroMQ.
    Tracker V;
    auto Find = [&](const std::string& Name) -> const Vector* {
        for (const Vector& X : Vectors)
        {
            if (X.Name == Name) return &X;
        }
        Fail(__FILE__, __LINE__, "missing vector " + Name);
        return nullptr;
    };
    if (const Vector* Llf = Find("livelinkface_arkit_frame"))
    {
        R = V.OnDatagram(Llf->Data.data(), Llf->Data.size());
        CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame && R.bNamesChanged && R.Subject != nullptr);
        if (R.Subject != nullptr)
        {
            CHECK_EQ(R.Subject->Name, Str("Ada"));
            CHECK_EQ(R.Subject->Space, Str("livelinkface"));
            CHECK_EQ(R.Subject->Curves.size(), LiveLinkFaceCurveCount);
            CHECK_EQ(R.Subject->Curves[17], Str("JawOpen"));
            CHECK_EQ(R.Subject->Values.size(), LiveLinkFaceCurveCount);
            CHECK_EQ(R.Subject->Time, 1234.5 / 60.0);
            CHECK_TRUE(R.Subject->Rate.Numerator == 60 && R.Subject->Rate.Denominator == 1);
        }
        R = V.OnDatagram(Llf->Data.data(), Llf->Data.size());
        CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame && !R.bNamesChanged);
    }
    const Vector* Names = Find("osc_compact_names");
    const Vector* Bundle = Find("osc_compact_bundle");
    if (Names && Bundle)
    {
        R = V.OnDatagram(Bundle->Data.data(), Bundle->Data.size());
        CHECK_EQ(Str(ReasonCode(R.Drop)), Str("space_mismatch"));  // Ada holds Live Link Face names now
        R = V.OnDatagram(Names->Data.data(), Names->Data.size());
        CHECK_TRUE(R.bNamesChanged && R.Subject && R.Subject->Curves.size() == 52 && R.Subject->Space == "arkit");
        R = V.OnDatagram(Bundle->Data.data(), Bundle->Data.size());
        CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame && R.Subject && R.Subject->Values.size() == 52);
        if (R.Subject) CHECK_EQ(R.Subject->Emotion, Str("happy"));
    }
    const Vector* Static = Find("zmq_static");
    const Vector* ZFrame = Find("zmq_frame");
    const Vector* Hello = Find("zmq_unknown_type");
    if (Static && ZFrame && Hello)
    {
        Tracker Z;
        CHECK_EQ(Str(ReasonCode(Z.OnZmqPayload(ZFrame->Data.data(), ZFrame->Data.size()).Drop)), Str("no_names"));
        R = Z.OnZmqPayload(Static->Data.data(), Static->Data.size());
        CHECK_TRUE(R.Update == TrackResult::EUpdate::Names && R.bNamesChanged);
        R = Z.OnZmqPayload(ZFrame->Data.data(), ZFrame->Data.size());
        CHECK_TRUE(R.Update == TrackResult::EUpdate::Frame && R.Subject && R.Subject->Values.size() == 52);
        R = Z.OnZmqPayload(Hello->Data.data(), Hello->Data.size());
        CHECK_TRUE(R.Update == TrackResult::EUpdate::None && R.Drop == Reason::Ok && Z.Stats().Ignored == 1);
    }
    Context().clear();
}

void TestFrameTime()
{
    Context() = "frame time";
    auto Rate = [](double Fps) {
        const FrameRate R = FrameRateFraction(Fps);
        return std::to_string(R.Numerator) + "/" + std::to_string(R.Denominator);
    };
    CHECK_EQ(Rate(60.0), Str("60/1"));
    CHECK_EQ(Rate(24.0), Str("24/1"));
    CHECK_EQ(Rate(30000.0 / 1001.0), Str("30000/1001"));
    CHECK_EQ(Rate(59.94), Str("60000/1001"));
    CHECK_EQ(Rate(23.976), Str("24000/1001"));
    CHECK_EQ(Rate(12.5), Str("25/2"));
    CHECK_EQ(Rate(0.0), Str("60/1"));
    CHECK_EQ(Rate(NAN), Str("60/1"));
    FrameTime F = ToFrameTime(3.0 / 60.0, FrameRate{60, 1});
    CHECK_TRUE(F.Frame == 3 && F.SubFrame == 0.0f);
    F = ToFrameTime(1234.5 / 60.0, FrameRate{60, 1});
    CHECK_TRUE(F.Frame == 1234 && std::fabs(F.SubFrame - 0.5f) < 1e-4f);
    F = ToFrameTime(1.0, FrameRate{30000, 1001});
    CHECK_TRUE(F.Frame == 29 && F.SubFrame > 0.97f && F.SubFrame < 1.0f);
    F = ToFrameTime(0.9999999999 / 60.0, FrameRate{60, 1});  // within the tolerance: the next frame
    CHECK_TRUE(F.Frame == 1 && F.SubFrame == 0.0f);
    F = ToFrameTime(0.99999 / 60.0, FrameRate{60, 1});
    CHECK_TRUE(F.Frame == 0 && F.SubFrame < 1.0f && F.SubFrame > 0.9999f);
    F = ToFrameTime(double(1ll << 31) / 60.0 + 0.5 / 60.0, FrameRate{60, 1});  // wraps at 2^31
    CHECK_TRUE(F.Frame == 0 && std::fabs(F.SubFrame - 0.5f) < 1e-3f);
    Context().clear();
}

void TestGlob()
{
    Context() = "subject filter";
    CHECK_TRUE(GlobMatch("Ada", "Ada"));
    CHECK_TRUE(!GlobMatch("Ada", "Ada2"));
    CHECK_TRUE(GlobMatch("Ada*", "Ada2"));
    CHECK_TRUE(GlobMatch("*", ""));
    CHECK_TRUE(GlobMatch("A?a", "Aba"));
    CHECK_TRUE(GlobMatch("*ice*", "Alice_left"));
    CHECK_TRUE(!GlobMatch("*ice", "Alice_left"));
    Tracker T;
    T.SetSubjectFilter("Ada,,  Émilie 🙂 ");
    CHECK_TRUE(T.SubjectAllowed("Ada") && T.SubjectAllowed("Émilie 🙂") && !T.SubjectAllowed("Bob"));
    T.SetSubjectFilter("  ");
    CHECK_TRUE(T.SubjectAllowed("anyone"));
    Context().clear();
}

int DecodeMode()
{
    std::string Line;
    while (std::getline(std::cin, Line))
    {
        const size_t Space = Line.find(' ');
        const std::string Format = Line.substr(0, Space);
        Bytes Data;
        for (size_t I = Space == std::string::npos ? Line.size() : Space + 1; I + 1 < Line.size(); I += 2)
        {
            Data.push_back(uint8_t(std::stoul(Line.substr(I, 2), nullptr, 16)));
        }
        // An exact-size copy, so the sanitizer sees any overread.
        const Bytes Exact(Data);
        if (Format == "llf") std::cout << DescribeLiveLinkFace(Exact.data(), Exact.size()) << '\n';
        else if (Format == "compact") std::cout << DescribeCompact(Exact.data(), Exact.size()) << '\n';
        else if (Format == "zmq") std::cout << DescribeZmq(Exact.data(), Exact.size()) << '\n';
        else std::cout << "unknown format " << Format << '\n';
    }
    return 0;
}

}  // namespace

int OtherTranslationUnit();  // odr_check.cpp: the headers link from two translation units

int main(int Argc, char** Argv)
{
    if (Argc == 2 && std::string(Argv[1]) == "--decode")
    {
        return DecodeMode();
    }
    if (Argc != 2)
    {
        std::fprintf(stderr, "usage: core_tests VECTOR_DIR | --decode\n");
        return 2;
    }
    CHECK_EQ(OtherTranslationUnit(), 61);
    const std::vector<Vector> Vectors = LoadVectors(Argv[1]);
    TestVectors(Vectors);
    TestOscReader();
    TestCompactRules();
    TestTracker(Vectors);
    TestFrameTime();
    TestGlob();
    TestTruncationsAndFlips(Vectors);
    std::printf("%zu vectors, %d checks, %d failures\n", Vectors.size(), Checks(), Failures());
    return Failures() == 0 ? 0 : 1;
}
