// A Live Link source fed by emorig over UDP.
//
// Its own thread receives datagrams on a plain UDP socket (no OSC plugin: the engine-free
// core in EmoRigCore decodes OSC compact bundles and Live Link Face packets itself, and that
// code is unit-tested outside Unreal). Each emorig subject becomes one Live Link subject in
// the basic role: static data = the curve names, frame data = the values and the frame's
// audio-clock time as scene time. Everything else here is glue.
#pragma once

#include "CoreMinimal.h"
#include "EmoRigConnectionSettings.h"
#include "HAL/CriticalSection.h"
#include "HAL/Runnable.h"
#include "ILiveLinkSource.h"

#include "EmoRigCore/EmoRigCore.h"

#include <atomic>

class FRunnableThread;
class FSocket;
class ILiveLinkClient;
class UEmoRigSourceSettings;

class FEmoRigSource : public ILiveLinkSource, public FRunnable
{
public:
	explicit FEmoRigSource(const FEmoRigConnectionSettings& InConnection);
	virtual ~FEmoRigSource() override;

	// ILiveLinkSource (game thread)
	virtual void ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid) override;
	virtual void InitializeSettings(ULiveLinkSourceSettings* InSettings) override;
	virtual void Update() override;
	virtual bool IsSourceStillValid() const override;
	virtual bool RequestSourceShutdown() override;
	virtual FText GetSourceType() const override;
	virtual FText GetSourceMachineName() const override;
	virtual FText GetSourceStatus() const override;
	virtual TSubclassOf<ULiveLinkSourceSettings> GetSettingsClass() const override;
	virtual void OnSettingsChanged(ULiveLinkSourceSettings* InSettings, const FPropertyChangedEvent& PropertyChangedEvent) override;

	// FRunnable (receiver thread)
	virtual uint32 Run() override;
	virtual void Stop() override;

private:
	// What the receiver thread publishes for the game thread, a few times a second.
	struct FStatus
	{
		emorig::TrackerStats Stats;
		TArray<FString> Subjects;
		double LastDatagramSeconds = 0.0;
		FString Error;
	};

	// What has been pushed to Live Link for one tracker subject (indexed by SubjectState::Id).
	struct FPublished
	{
		FName Name;
		uint32 Generation = 0;  // the names generation pushed as static data; 0 = none yet
		bool bWithEmotion = false;
	};

	bool StartListening();  // game thread
	void StopListening();   // game thread; waits for the receiver thread
	void SetError(const FString& Error);
	void SetTrackerFilter(const FString& Filter);  // before the thread starts, or on it

	void HandleDatagram(const uint8* Data, int32 Size);  // receiver thread, from here down
	void ApplyPendingSettings();
	FPublished& PublishedFor(const emorig::SubjectState& Subject);
	bool NeedsStaticData(const emorig::SubjectState& Subject, bool bCheckClient);
	void PushStaticData(const emorig::SubjectState& Subject);
	void PushFrameData(const emorig::SubjectState& Subject);
	void PublishStatus(bool bForce);

	// Game thread.
	ILiveLinkClient* Client = nullptr;
	FGuid SourceGuid;
	FEmoRigConnectionSettings Connection;
	UEmoRigSourceSettings* Settings = nullptr;  // owned by the Live Link client
	double LastSettingsRefresh = 0.0;

	// The socket and its thread: created and destroyed on the game thread, used by the thread.
	FSocket* Socket = nullptr;
	FRunnableThread* Thread = nullptr;
	std::atomic<bool> bStopping{false};

	// Receiver thread only.
	emorig::Tracker Tracker;
	TArray<uint8> ReceiveBuffer;
	TArray<FPublished> Published;
	double LastDatagramSeconds = 0.0;
	double LastStatusPublish = 0.0;
	bool bWarnedNames = false;

	// Handed from the game thread to the receiver thread.
	FCriticalSection PendingLock;
	FString PendingFilter;
	std::atomic<bool> bFilterChanged{false};
	std::atomic<bool> bPublishEmotionCurves{false};

	// Handed from the receiver thread to the game thread.
	mutable FCriticalSection StatusLock;
	FStatus Status;
};
