#include "EmoRigSource.h"

#include "Common/UdpSocketBuilder.h"
#include "EmoRigModule.h"
#include "EmoRigSourceFactory.h"
#include "EmoRigSourceSettings.h"
#include "HAL/PlatformTime.h"
#include "HAL/RunnableThread.h"
#include "ILiveLinkClient.h"
#include "Interfaces/IPv4/IPv4Address.h"
#include "Interfaces/IPv4/IPv4Endpoint.h"
#include "LiveLinkTypes.h"
#include "Misc/FrameRate.h"
#include "Misc/QualifiedFrameTime.h"
#include "Misc/ScopeLock.h"
#include "Roles/LiveLinkBasicRole.h"
#include "Sockets.h"
#include "UObject/UnrealType.h"
#include "SocketSubsystem.h"

#define LOCTEXT_NAMESPACE "EmoRigSource"

namespace
{
// Big enough for any UDP datagram, so none is ever cut (a MetaHuman names message is ~9 KB).
constexpr int32 MaxDatagramBytes = 65536;
// Room for bursts: emorig sends a frame per subject every 1/60 s, each up to ~1.4 KB.
constexpr int32 SocketBufferBytes = 1024 * 1024;
constexpr double StatusIntervalSeconds = 0.25;
constexpr double IdleAfterSeconds = 2.0;

const FName EmotionMetaDataKey(TEXT("emorig_emotion"));
const TCHAR* const EmotionIntensityCurve = TEXT("emorig_emotion_intensity");

FString Utf8ToString(const std::string& Text)
{
	const FUTF8ToTCHAR Converted(reinterpret_cast<const ANSICHAR*>(Text.data()), static_cast<int32>(Text.size()));
	return FString(Converted.Length(), Converted.Get());
}
}  // namespace

void FEmoRigSource::SetTrackerFilter(const FString& Filter)
{
	const FTCHARToUTF8 Utf8(*Filter);
	Tracker.SetSubjectFilter(std::string_view(reinterpret_cast<const char*>(Utf8.Get()), static_cast<size_t>(Utf8.Length())));
}

FEmoRigSource::FEmoRigSource(const FEmoRigConnectionSettings& InConnection)
	: Connection(InConnection)
{
	SetTrackerFilter(Connection.SubjectFilter);
}

FEmoRigSource::~FEmoRigSource()
{
	StopListening();
}

// -- ILiveLinkSource --------------------------------------------------------------------------

void FEmoRigSource::ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid)
{
	Client = InClient;
	SourceGuid = InSourceGuid;
	StartListening();
}

void FEmoRigSource::InitializeSettings(ULiveLinkSourceSettings* InSettings)
{
	Settings = Cast<UEmoRigSourceSettings>(InSettings);
	if (Settings != nullptr)
	{
		// The panel shows what this source really listens on; the connection string lets a
		// Live Link preset recreate it.
		Settings->Connection = Connection;
		Settings->ConnectionString = UEmoRigSourceFactory::ToConnectionString(Connection);
		bPublishEmotionCurves = Settings->bPublishEmotionCurves;
	}
}

void FEmoRigSource::OnSettingsChanged(ULiveLinkSourceSettings* InSettings, const FPropertyChangedEvent& PropertyChangedEvent)
{
	ILiveLinkSource::OnSettingsChanged(InSettings, PropertyChangedEvent);
	UEmoRigSourceSettings* Changed = Cast<UEmoRigSourceSettings>(InSettings);
	if (Changed == nullptr || PropertyChangedEvent.ChangeType == EPropertyChangeType::Interactive)
	{
		return;
	}
	const FEmoRigConnectionSettings Old = Connection;
	Connection = Changed->Connection;
	Changed->ConnectionString = UEmoRigSourceFactory::ToConnectionString(Connection);
	if (Connection.SubjectFilter != Old.SubjectFilter)
	{
		FScopeLock Lock(&PendingLock);
		PendingFilter = Connection.SubjectFilter;
		bFilterChanged = true;
	}
	bPublishEmotionCurves = Changed->bPublishEmotionCurves;
	if (Connection.Port != Old.Port || Connection.BindAddress != Old.BindAddress)
	{
		StopListening();
		StartListening();
	}
}

void FEmoRigSource::Update()
{
	// Copy the status into the panel a few times a second (the game thread owns the UObject).
	const double Now = FPlatformTime::Seconds();
	if (Settings == nullptr || Now - LastSettingsRefresh < StatusIntervalSeconds)
	{
		return;
	}
	LastSettingsRefresh = Now;
	Settings->State = GetSourceStatus().ToString();
	FScopeLock Lock(&StatusLock);
	const emorig::TrackerStats& Stats = Status.Stats;
	Settings->Datagrams = static_cast<int64>(Stats.Datagrams);
	Settings->Frames = static_cast<int64>(Stats.Frames);
	Settings->NamesMessages = static_cast<int64>(Stats.NamesMessages);
	Settings->Filtered = static_cast<int64>(Stats.Filtered);
	Settings->Dropped = static_cast<int64>(Stats.DroppedTotal());
	FString ByReason;
	for (size_t Index = 0; Index < emorig::ReasonCount; ++Index)
	{
		if (Stats.Dropped[Index] != 0)
		{
			ByReason += FString::Printf(TEXT("%s%s: %llu"), ByReason.IsEmpty() ? TEXT("") : TEXT(", "),
				UTF8_TO_TCHAR(emorig::ReasonCode(static_cast<emorig::Reason>(Index))),
				static_cast<unsigned long long>(Stats.Dropped[Index]));
		}
	}
	Settings->DroppedByReason = ByReason;
	Settings->Subjects = Status.Subjects;
}

bool FEmoRigSource::IsSourceStillValid() const
{
	return !bStopping && Socket != nullptr && Thread != nullptr;
}

bool FEmoRigSource::RequestSourceShutdown()
{
	// The thread notices within its 100 ms wait; the destructor joins it.
	bStopping = true;
	return true;
}

FText FEmoRigSource::GetSourceType() const
{
	return LOCTEXT("SourceType", "EmoRig");
}

FText FEmoRigSource::GetSourceMachineName() const
{
	return FText::FromString(FString::Printf(TEXT("udp://%s:%d"), *Connection.BindAddress, Connection.Port));
}

FText FEmoRigSource::GetSourceStatus() const
{
	FScopeLock Lock(&StatusLock);
	if (!Status.Error.IsEmpty())
	{
		return FText::Format(LOCTEXT("StatusError", "Error: {0}"), FText::FromString(Status.Error));
	}
	if (Status.Stats.Datagrams == 0)
	{
		return FText::Format(LOCTEXT("StatusListening", "Listening on port {0}, no data yet"), FText::AsNumber(Connection.Port, &FNumberFormattingOptions::DefaultNoGrouping()));
	}
	const double Idle = FPlatformTime::Seconds() - Status.LastDatagramSeconds;
	if (Idle > IdleAfterSeconds)
	{
		return FText::Format(LOCTEXT("StatusIdle", "Idle: no data for {0} s"), FText::AsNumber(FMath::FloorToInt(Idle)));
	}
	return FText::Format(LOCTEXT("StatusReceiving", "Receiving: {0} subjects, {1} frames, {2} dropped"),
		FText::AsNumber(Status.Subjects.Num()), FText::AsNumber(Status.Stats.Frames), FText::AsNumber(Status.Stats.DroppedTotal()));
}

TSubclassOf<ULiveLinkSourceSettings> FEmoRigSource::GetSettingsClass() const
{
	return UEmoRigSourceSettings::StaticClass();
}

// -- the socket -------------------------------------------------------------------------------

void FEmoRigSource::SetError(const FString& Error)
{
	UE_LOG(LogEmoRig, Error, TEXT("EmoRig source: %s"), *Error);
	FScopeLock Lock(&StatusLock);
	Status.Error = Error;
}

bool FEmoRigSource::StartListening()
{
	{
		FScopeLock Lock(&StatusLock);
		Status.Error.Reset();
	}
	FIPv4Address Address;
	const FString Bind = Connection.BindAddress.TrimStartAndEnd();
	if (Bind.IsEmpty() || Bind.Equals(TEXT("localhost"), ESearchCase::IgnoreCase))
	{
		Address = FIPv4Address(127, 0, 0, 1);
	}
	else if (!FIPv4Address::Parse(Bind, Address))
	{
		SetError(FString::Printf(TEXT("bind address '%s' is not an IPv4 address (use 127.0.0.1, this machine's LAN address, or 0.0.0.0)"), *Bind));
		return false;
	}
	if (Connection.Port < 1 || Connection.Port > 65535)
	{
		SetError(FString::Printf(TEXT("port %d is not 1..65535"), Connection.Port));
		return false;
	}
	const FIPv4Endpoint Endpoint(Address, static_cast<uint16>(Connection.Port));
	// Not AsReusable(): a port another program holds must fail here, visibly, rather than
	// silently share (or steal) its datagrams.
	Socket = FUdpSocketBuilder(TEXT("EmoRigSource"))
		.AsNonBlocking()
		.BoundToEndpoint(Endpoint)
		.WithReceiveBufferSize(SocketBufferBytes)
		.Build();
	if (Socket == nullptr)
	{
		SetError(FString::Printf(TEXT("cannot listen on %s: is another program (or another Live Link source) using that port?"), *Endpoint.ToString()));
		return false;
	}
	ReceiveBuffer.SetNumUninitialized(MaxDatagramBytes);
	bStopping = false;
	Thread = FRunnableThread::Create(this, TEXT("EmoRigReceiver"), 128 * 1024, TPri_AboveNormal);
	if (Thread == nullptr)
	{
		SetError(TEXT("cannot start the receiver thread"));
		StopListening();
		return false;
	}
	UE_LOG(LogEmoRig, Log, TEXT("EmoRig source listening on udp://%s"), *Endpoint.ToString());
	return true;
}

void FEmoRigSource::StopListening()
{
	bStopping = true;
	if (Thread != nullptr)
	{
		Thread->WaitForCompletion();
		delete Thread;
		Thread = nullptr;
	}
	if (Socket != nullptr)
	{
		Socket->Close();
		ISocketSubsystem::Get(PLATFORM_SOCKETSUBSYSTEM)->DestroySocket(Socket);
		Socket = nullptr;
	}
}

// -- the receiver thread ----------------------------------------------------------------------

void FEmoRigSource::Stop()
{
	bStopping = true;
}

uint32 FEmoRigSource::Run()
{
	const FTimespan WaitTime = FTimespan::FromMilliseconds(100);
	while (!bStopping)
	{
		ApplyPendingSettings();
		if (Socket->Wait(ESocketWaitConditions::WaitForRead, WaitTime))
		{
			uint32 PendingBytes = 0;
			while (!bStopping && Socket->HasPendingData(PendingBytes))
			{
				int32 Read = 0;
				if (!Socket->Recv(ReceiveBuffer.GetData(), ReceiveBuffer.Num(), Read))
				{
					break;
				}
				HandleDatagram(ReceiveBuffer.GetData(), Read);
			}
		}
		PublishStatus(false);
	}
	PublishStatus(true);
	return 0;
}

void FEmoRigSource::ApplyPendingSettings()
{
	if (bFilterChanged.exchange(false))
	{
		FString Filter;
		{
			FScopeLock Lock(&PendingLock);
			Filter = PendingFilter;
		}
		SetTrackerFilter(Filter);
	}
}

void FEmoRigSource::HandleDatagram(const uint8* Data, int32 Size)
{
	LastDatagramSeconds = FPlatformTime::Seconds();
	const emorig::TrackResult Result = Tracker.OnDatagram(Data, static_cast<size_t>(FMath::Max(Size, 0)));
	if (Result.bFirstUnsupportedSchema)
	{
		UE_LOG(LogEmoRig, Warning, TEXT("emorig stream uses schema %lld; this plugin reads schema %d. Update the EmoRig plugin. Those messages are dropped."),
			static_cast<long long>(Result.UnsupportedSchema), emorig::SchemaVersion);
	}
	if (Result.Subject == nullptr || Result.Drop != emorig::Reason::Ok || Client == nullptr || bStopping)
	{
		return;
	}
	const emorig::SubjectState& Subject = *Result.Subject;
	if (Result.Update == emorig::TrackResult::EUpdate::Names)
	{
		// Static data is pushed only when it changes (pushing it clears Live Link's frame
		// buffer); the names message that comes every second also re-creates a subject the user
		// removed in the Live Link window.
		if (Result.bNamesChanged || NeedsStaticData(Subject, true))
		{
			PushStaticData(Subject);
		}
	}
	else if (Result.Update == emorig::TrackResult::EUpdate::Frame)
	{
		if (Result.bNamesChanged || NeedsStaticData(Subject, false))
		{
			PushStaticData(Subject);
		}
		PushFrameData(Subject);
	}
}

FEmoRigSource::FPublished& FEmoRigSource::PublishedFor(const emorig::SubjectState& Subject)
{
	const int32 Index = static_cast<int32>(Subject.Id);
	if (!Published.IsValidIndex(Index))
	{
		Published.SetNum(Index + 1);
	}
	FPublished& Entry = Published[Index];
	if (Entry.Name.IsNone())
	{
		Entry.Name = FName(*Utf8ToString(Subject.Name));
	}
	return Entry;
}

bool FEmoRigSource::NeedsStaticData(const emorig::SubjectState& Subject, bool bCheckClient)
{
	const FPublished& Entry = PublishedFor(Subject);
	if (Entry.Generation != Subject.NamesGeneration || Entry.bWithEmotion != bPublishEmotionCurves.load())
	{
		return true;
	}
	return bCheckClient && Client->GetSubjectRole_AnyThread(FLiveLinkSubjectKey(SourceGuid, Entry.Name)).Get() == nullptr;
}

void FEmoRigSource::PushStaticData(const emorig::SubjectState& Subject)
{
	FPublished& Entry = PublishedFor(Subject);
	const bool bEmotion = bPublishEmotionCurves.load();
	FLiveLinkStaticDataStruct StaticData(FLiveLinkBaseStaticData::StaticStruct());
	FLiveLinkBaseStaticData& Base = *StaticData.Cast<FLiveLinkBaseStaticData>();
	Base.PropertyNames.Reserve(static_cast<int32>(Subject.Curves.size()) + (bEmotion ? 1 + int32(emorig::EmotionCount) : 0));
	for (const std::string& Curve : Subject.Curves)
	{
		Base.PropertyNames.Add(FName(*Utf8ToString(Curve)));
	}
	if (bEmotion)
	{
		Base.PropertyNames.Add(FName(EmotionIntensityCurve));
		for (size_t Index = 0; Index < emorig::EmotionCount; ++Index)
		{
			Base.PropertyNames.Add(FName(*FString::Printf(TEXT("emorig_emotion_%s"), UTF8_TO_TCHAR(emorig::EmotionLabels()[Index]))));
		}
	}
	Client->PushSubjectStaticData_AnyThread(FLiveLinkSubjectKey(SourceGuid, Entry.Name), ULiveLinkBasicRole::StaticClass(), MoveTemp(StaticData));
	Entry.Generation = Subject.NamesGeneration;
	Entry.bWithEmotion = bEmotion;
	UE_LOG(LogEmoRig, Log, TEXT("EmoRig subject '%s': %d curves of rig space '%s'"), *Entry.Name.ToString(),
		static_cast<int32>(Subject.Curves.size()), *Utf8ToString(Subject.Space));
}

void FEmoRigSource::PushFrameData(const emorig::SubjectState& Subject)
{
	const FPublished& Entry = PublishedFor(Subject);
	FLiveLinkFrameDataStruct FrameData(FLiveLinkBaseFrameData::StaticStruct());
	FLiveLinkBaseFrameData& Frame = *FrameData.Cast<FLiveLinkBaseFrameData>();
	// WorldTime stays the arrival time (its default); the scene time is the audio clock, so
	// a take recorded from Live Link lines up with the speech it came from.
	const emorig::FrameTime Time = emorig::ToFrameTime(Subject.Time, Subject.Rate);
	Frame.MetaData.SceneTime = FQualifiedFrameTime(
		FFrameTime(FFrameNumber(Time.Frame), Time.SubFrame),
		FFrameRate(static_cast<uint32>(Subject.Rate.Numerator), static_cast<uint32>(Subject.Rate.Denominator)));
	Frame.PropertyValues.Reserve(static_cast<int32>(Subject.Values.size()) + 1 + int32(emorig::EmotionCount));
	Frame.PropertyValues.Append(Subject.Values.data(), static_cast<int32>(Subject.Values.size()));
	if (Entry.bWithEmotion)
	{
		Frame.PropertyValues.Add(Subject.bHasEmotion ? Subject.Intensity : 0.0f);
		for (size_t Index = 0; Index < emorig::EmotionCount; ++Index)
		{
			Frame.PropertyValues.Add(Subject.bHasEmotion ? Subject.Probs[Index] : 0.0f);
		}
	}
	if (Subject.bHasEmotion)
	{
		Frame.MetaData.StringMetaData.Add(EmotionMetaDataKey, Utf8ToString(Subject.Emotion));
	}
	Client->PushSubjectFrameData_AnyThread(FLiveLinkSubjectKey(SourceGuid, Entry.Name), MoveTemp(FrameData));
}

void FEmoRigSource::PublishStatus(bool bForce)
{
	const double Now = FPlatformTime::Seconds();
	if (!bForce && Now - LastStatusPublish < StatusIntervalSeconds)
	{
		return;
	}
	LastStatusPublish = Now;
	TArray<FString> Subjects;
	for (size_t Index = 0; Index < Tracker.SubjectCount(); ++Index)
	{
		const emorig::SubjectState& S = Tracker.SubjectAt(Index);
		Subjects.Add(FString::Printf(TEXT("%s: %s, %d curves, %llu frames, %llu dropped%s"), *Utf8ToString(S.Name),
			*Utf8ToString(S.Space), static_cast<int32>(S.Curves.size()), static_cast<unsigned long long>(S.Frames),
			static_cast<unsigned long long>(S.Dropped), S.bAwaitingNames ? TEXT(" (waiting for names)") : TEXT("")));
	}
	FScopeLock Lock(&StatusLock);
	Status.Stats = Tracker.Stats();
	Status.Subjects = MoveTemp(Subjects);
	Status.LastDatagramSeconds = LastDatagramSeconds;
}

#undef LOCTEXT_NAMESPACE
