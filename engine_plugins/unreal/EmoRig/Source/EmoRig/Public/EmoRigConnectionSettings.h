// Where an EmoRig source listens. Also its Live Link connection string (exported as text),
// so a saved Live Link preset recreates the source with the same settings.
#pragma once

#include "CoreMinimal.h"
#include "EmoRigConnectionSettings.generated.h"

USTRUCT(BlueprintType)
struct EMORIG_API FEmoRigConnectionSettings
{
	GENERATED_BODY()

	/** UDP port to listen on: the PORT of `emorig stream --sink osc://HOST:PORT` (or livelinkface://HOST:PORT). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "EmoRig", meta = (ClampMin = 1, ClampMax = 65535))
	int32 Port = 11112;

	/** Address to listen on. 127.0.0.1 (default) accepts only this machine; use this machine's LAN address, or 0.0.0.0 for every interface, when emorig runs on another machine. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "EmoRig")
	FString BindAddress = TEXT("127.0.0.1");

	/** Subjects to publish, comma-separated, * and ? allowed (e.g. "Ada, Bob*"). Empty publishes every subject. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "EmoRig")
	FString SubjectFilter;
};
