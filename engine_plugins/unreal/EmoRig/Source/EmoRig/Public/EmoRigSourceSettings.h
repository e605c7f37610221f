// The EmoRig source's panel in the Live Link window: what it listens to, and what it has seen.
#pragma once

#include "CoreMinimal.h"
#include "EmoRigConnectionSettings.h"
#include "LiveLinkSourceSettings.h"
#include "EmoRigSourceSettings.generated.h"

UCLASS()
class EMORIG_API UEmoRigSourceSettings : public ULiveLinkSourceSettings
{
	GENERATED_BODY()

public:
	/** Changing the port or address reopens the socket; the filter applies at once. */
	UPROPERTY(EditAnywhere, Category = "EmoRig", meta = (ShowOnlyInnerProperties))
	FEmoRigConnectionSettings Connection;

	/** Also publish the emotion as curves: emorig_emotion_intensity and emorig_emotion_<label> (neutral, happy, sad, angry, surprised, fear, disgust, contempt), for Blueprint logic. The label is always in the frame's metadata ("emorig_emotion"). */
	UPROPERTY(EditAnywhere, Category = "EmoRig")
	bool bPublishEmotionCurves = false;

	/** Listening, receiving, idle, or the error that stops the source. */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	FString State;

	/** UDP datagrams received. */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	int64 Datagrams = 0;

	/** Frames published to Live Link. */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	int64 Frames = 0;

	/** Names messages received (emorig sends one per subject every second). */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	int64 NamesMessages = 0;

	/** Datagrams or frames dropped, for any reason. */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	int64 Dropped = 0;

	/** Why they were dropped, e.g. "bad_osc: 2, count_mismatch: 1" (codes in docs/unreal.md). */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	FString DroppedByReason;

	/** Well-formed datagrams of subjects the filter leaves out. */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	int64 Filtered = 0;

	/** Every subject seen: rig space, curve count, frames, drops. */
	UPROPERTY(VisibleAnywhere, Transient, Category = "Status")
	TArray<FString> Subjects;
};
