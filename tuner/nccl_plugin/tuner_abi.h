/* NCCL's tuner plugin ABI (v3 to v6), declared here because NCCL does not install its plugin
 * headers. Layouts and values follow ../shared/notes/interop-formats.md section 1, and for v6 NCCL
 * 2.30.7's src/include/plugin/tuner/tuner_v6.h (added in 2.30.3). Plain C. */
#ifndef CCTUNE_NCCL_TUNER_ABI_H
#define CCTUNE_NCCL_TUNER_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int cctuneNcclResult; /* ncclResult_t; 0 = ncclSuccess */

typedef enum {
  CCTUNE_NCCL_LOG_NONE = 0,
  CCTUNE_NCCL_LOG_VERSION = 1,
  CCTUNE_NCCL_LOG_WARN = 2,
  CCTUNE_NCCL_LOG_INFO = 3,
  CCTUNE_NCCL_LOG_ABORT = 4,
  CCTUNE_NCCL_LOG_TRACE = 5
} cctuneNcclLogLevel;

enum { CCTUNE_NCCL_TUNING = 0x40 }; /* NCCL's debug subsystem flag for tuning messages */

typedef void (*cctuneNcclLogger)(cctuneNcclLogLevel level, unsigned long flags, const char* file, int line,
                                 const char* fmt, ...);

/* ncclFunc_t */
enum { CCTUNE_FUNC_BROADCAST = 0, CCTUNE_FUNC_REDUCE = 1, CCTUNE_FUNC_ALLGATHER = 2, CCTUNE_FUNC_REDUCESCATTER = 3,
       CCTUNE_FUNC_ALLREDUCE = 4, CCTUNE_FUNC_COUNT = 11 };
enum { CCTUNE_NUM_ALGORITHMS = 7, CCTUNE_NUM_PROTOCOLS = 3 };
#define CCTUNE_ALGO_PROTO_IGNORE (-1.0f)

typedef struct {
  int nNvlDomains;
  int minRanksPerNvlDomain;
  int maxRanksPerNvlDomain;
} cctuneNvlDomainInfo_v5;

typedef struct {
  double baseLatencies[7][3];
  double hwLatencies[3][7][3];
  double llMaxBws[4][3];
  double perChMaxRingLL128Bws[4][3];
  double perChMaxTreeLL128Bws[4][3];
  double perChMaxTreeBws[4][3];
  double perChMaxNVLSTreeBws[4][3];
} cctuneTunerConstants_v5;

typedef struct {
  const char* name;
  cctuneNcclResult (*init)(void** context, uint64_t commId, size_t nRanks, size_t nNodes, cctuneNcclLogger logFunction,
                           cctuneNvlDomainInfo_v5* nvlDomainInfo, cctuneTunerConstants_v5* constants);
  cctuneNcclResult (*getCollInfo)(void* context, int collType, size_t nBytes, int numPipeOps, float** collCostTable,
                                  int numAlgo, int numProto, int regBuff, int* nChannels);
  cctuneNcclResult (*finalize)(void* context);
} cctuneTunerPlugin_v5;

/* v6: v5's init, getCollInfo and finalize in the same places, and an optional getChunkSize last.
 * NCCL calls getChunkSize only when it is non-NULL, with the chunk size it computed in *chunkSize (the
 * plugin may change it; NCCL clamps it to its buffer's maximum). v6 reuses v5's two structs. */
typedef cctuneNvlDomainInfo_v5 cctuneNvlDomainInfo_v6;
typedef cctuneTunerConstants_v5 cctuneTunerConstants_v6;

typedef struct {
  const char* name;
  cctuneNcclResult (*init)(void** context, uint64_t commId, size_t nRanks, size_t nNodes, cctuneNcclLogger logFunction,
                           cctuneNvlDomainInfo_v6* nvlDomainInfo, cctuneTunerConstants_v6* constants);
  cctuneNcclResult (*getCollInfo)(void* context, int collType, size_t nBytes, int numPipeOps, float** collCostTable,
                                  int numAlgo, int numProto, int regBuff, int* nChannels);
  cctuneNcclResult (*finalize)(void* context);
  cctuneNcclResult (*getChunkSize)(void* context, int collType, size_t nBytes, int algo, int proto, int nChannels,
                                   size_t* chunkSize);
} cctuneTunerPlugin_v6;

typedef struct {
  const char* name;
  cctuneNcclResult (*init)(size_t nRanks, size_t nNodes, cctuneNcclLogger logFunction, void** context);
  cctuneNcclResult (*getCollInfo)(void* context, int collType, size_t nBytes, int numPipeOps, float** collCostTable,
                                  int numAlgo, int numProto, int regBuff, int* nChannels);
  cctuneNcclResult (*destroy)(void* context);
} cctuneTunerPlugin_v4;

typedef struct {
  const char* name;
  cctuneNcclResult (*init)(size_t nRanks, size_t nNodes, cctuneNcclLogger logFunction, void** context);
  cctuneNcclResult (*getCollInfo)(void* context, int collType, size_t nBytes, int numPipeOps, float** collCostTable,
                                  int numAlgo, int numProto, int* nChannels);
  cctuneNcclResult (*destroy)(void* context);
} cctuneTunerPlugin_v3;

#ifdef __cplusplus
}
#endif

#endif
